"""CPU benchmark: DP diffusion on BreastMNIST at epsilon 10, delta 1e-5, 60 minutes of
training on 2 cores. Prints a table against the issue's targets and writes benchmark.json.

Full run (about 75 minutes in all; OpenMP keeps its default wait policy here: PASSIVE,
which the CLI and the service set to spare other processes, slowed sampling by about a third):
    python benchmarks/images_cpu.py --threads 2 --out runs/images_cpu
Reduced check (a few minutes):
    python benchmarks/images_cpu.py --quick --out runs/images_cpu_quick
Optional allocator (notes: first-touch memory is slow on this VM):
    --jemalloc re-runs the script with Debian's libjemalloc2 preloaded, if installed.
Sampler study on a trained model (post-processing, no budget; 10,000 images per variant):
    python benchmarks/images_cpu.py --resample runs/images_cpu/model \
        --variant model --variant sigma_min=0.05 --variant sampler=heun,steps=18
The model's own class knowledge (the model as a classifier; a guide to what TSTR can reach):
    python benchmarks/images_cpu.py --class-signal runs/images_cpu/model
Utility-protocol study on a trained model (downstream CNN recipe, chosen on the holdout):
    python benchmarks/images_cpu.py --utility-study runs/images_cpu/model \
        --protocol current --protocol smoothing=0.1 --protocol blur=0.7 --protocol classes=balanced
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the benchmarks package, run as a script
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "medmnist" / "breastmnist.npz"
TARGETS = {"tstr_roc_auc": 0.75, "training_minutes": 60.0, "dp_over_nonprivate": 2.5,
           "sampling_seconds": 60.0}
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None,
                   help="BreastMNIST .npz (default: the shared copy, else cache/download)")
    p.add_argument("--out", type=Path, default=Path("runs/images_cpu"), help="new folder for the run")
    p.add_argument("--epsilon", type=float, default=10.0)
    p.add_argument("--delta", type=float, default=1e-5)
    p.add_argument("--train-minutes", type=float, default=60.0)
    p.add_argument("--max-steps", type=int, default=None, help="skip the sizing; run this many steps")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="recipe override, e.g. --set noise_multiplicity=8 (repeatable)")
    p.add_argument("--pretrain-on", type=Path, default=None, metavar="PUBLIC.npz",
                   help="public images to pretrain on (non-private) inside the budget, before "
                        "DP fine-tuning, e.g. the shared pneumoniamnist.npz")
    p.add_argument("--pretrain-minutes", type=float, default=15.0,
                   help="share of --train-minutes spent on public pretraining (with --pretrain-on)")
    p.add_argument("--quick", action="store_true",
                   help="reduced check: 4 training minutes, 2,000 sampled images, short CNNs")
    p.add_argument("--jemalloc", action="store_true", help="preload libjemalloc2 if present")
    p.add_argument("--probe-only", type=int, default=None, metavar="STEPS",
                   help="only time DP vs non-private steps (same K), STEPS of each, interleaved")
    p.add_argument("--measure-k", type=Path, default=None, metavar="MODEL_DIR",
                   help="instead of the benchmark: the clipped-gradient signal per noise "
                        "multiplicity K for a trained model (docs/research/2026-11-27-image-noise-multiplicity-and-step-time.md)")
    p.add_argument("--class-signal", type=Path, default=None, metavar="MODEL_DIR",
                   help="instead of the benchmark: the model's own class knowledge, as the ROC "
                        "AUC of the model used as a classifier on the real holdout and test")
    p.add_argument("--resample", type=Path, default=None, metavar="MODEL_DIR",
                   help="instead of the benchmark: re-sample a trained model under each "
                        "--variant and score each on the real test split")
    p.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE,...",
                   help="with --resample: sampler=, steps=, sigma_min=, guidance_scale=, "
                        "candidates=, critic_guidance=, critic_max_step= "
                        "(any subset; 'model' keeps the model's settings; repeatable)")
    p.add_argument("--utility-study", type=Path, default=None, metavar="MODEL_DIR",
                   help="instead of the benchmark: TSTR / TRTR ROC AUC on the holdout and the "
                        "test split under each --protocol")
    p.add_argument("--protocol", action="append", default=[], metavar="KEY=VALUE,...",
                   help="with --utility-study: shift=PIXELS, smoothing=SHARE, noise=STD, "
                        "blur=PIXELS, steps=N, classes=model|balanced ('current' for the "
                        "defaults; repeatable)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    if args.jemalloc and "LD_PRELOAD" not in os.environ and Path(JEMALLOC).exists():
        env = {**os.environ, "LD_PRELOAD": JEMALLOC,
               "MALLOC_CONF": "retain:true,dirty_decay_ms:-1,muzzy_decay_ms:-1"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    import torch

    torch.set_num_threads(args.threads)
    from benchmarks.image_studies.driver import BenchmarkSettings, format_table, run_benchmark
    from synthgen.images.medmnist import resolve_medmnist

    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    overrides.setdefault("device", "cpu")
    if args.probe_only:
        from synthgen.images.step_timing import measure_step_times

        probe = measure_step_times(n_train=546, image_shape=(1, 28, 28), num_classes=2,
                                   overrides=overrides, steps=args.probe_only, seed=args.seed)
        print(json.dumps(probe))
        return probe
    if args.measure_k is not None:
        from benchmarks.image_studies.driver import multiplicity_signal
        from synthgen.artifacts import default_private_dir
        from synthgen.images.data import ImageSet

        private = default_private_dir(args.measure_k)
        rows = multiplicity_signal(args.measure_k, ImageSet.load(private / "train.npz"))
        for row in rows:
            print(json.dumps(row))
        return {"multiplicity_signal": rows}
    if args.class_signal is not None:
        from benchmarks.image_studies.class_signal import class_signal
        from synthgen.errors import SynthgenError

        try:
            rows = class_signal(args.class_signal)
        except SynthgenError as exc:
            sys.exit(f"images_cpu.py: {exc}")
        (args.class_signal.parent / "class_signal.json").write_text(json.dumps(rows, indent=2))
        return {"class_signal": rows}
    if args.resample is not None:
        from benchmarks.image_studies.sampling_study import SamplingVariant, study_sampling
        from synthgen.errors import SynthgenError

        try:
            variants = [SamplingVariant.parse(v) for v in args.variant or ["model"]]
            rows = study_sampling(args.resample, variants, images=2000 if args.quick else 10_000,
                                  classifier_steps=300 if args.quick else 600, seed=args.seed)
        except SynthgenError as exc:  # a bad variant or model folder: one line, no traceback
            sys.exit(f"images_cpu.py: {exc}")
        (args.resample.parent / "sampling_study.json").write_text(json.dumps(rows, indent=2))
        return {"sampling_study": rows}
    if args.utility_study is not None:
        from benchmarks.image_studies.utility_study import UtilityProtocol, study_utility
        from synthgen.errors import SynthgenError

        try:
            protocols = [UtilityProtocol.parse(v) for v in args.protocol or ["current"]]
            rows = study_utility(args.utility_study, protocols,
                                 images=2000 if args.quick else 10_000,
                                 classifier_steps=300 if args.quick else 600)
        except SynthgenError as exc:
            sys.exit(f"images_cpu.py: {exc}")
        (args.utility_study.parent / "utility_study.json").write_text(json.dumps(rows, indent=2))
        return {"utility_study": rows}
    if args.out.exists() and any(args.out.iterdir()):
        # refused before the probe, not after it at the training's own check
        sys.exit(f"images_cpu.py: {args.out} already holds a run; choose a new --out")
    from synthgen.errors import SynthgenError

    try:
        data = resolve_medmnist(args.data or (DEFAULT_DATA if DEFAULT_DATA.exists() else None),
                                "breastmnist")
    except SynthgenError as exc:
        sys.exit(f"images_cpu.py: {exc}")
    settings = BenchmarkSettings(
        data=data, out_dir=args.out, epsilon=args.epsilon, delta=args.delta,
        train_minutes=4.0 if args.quick and args.train_minutes == 60.0 else args.train_minutes,
        max_steps=args.max_steps, seed=args.seed, overrides=overrides,
        sampling_images=2000 if args.quick else 10_000,
        classifier_steps=300 if args.quick else 600,
        pretrain_data=args.pretrain_on, pretrain_minutes=args.pretrain_minutes,
        targets={**TARGETS, "training_minutes": (4.0 if args.quick else args.train_minutes)},
    )
    if args.quick:
        settings.targets.pop("sampling_seconds")  # timed on 10k images only in the full run
    results = run_benchmark(settings)
    print()
    machine = results["machine"]
    print(f"BreastMNIST, epsilon {args.epsilon:g}, delta {args.delta:g}, {args.threads} threads"
          f" on {machine['cpu']}, OMP_WAIT_POLICY {machine['omp_wait_policy']}"
          + (" (QUICK: reduced size, not the benchmark)" if args.quick else ""))
    print(format_table(results))
    return results


if __name__ == "__main__":
    main()
