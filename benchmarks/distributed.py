"""Distributed DP-SGD and parallel sampling (issue 26): what 2 processes buy on this machine.

    OMP_NUM_THREADS=1 python benchmarks/distributed.py                 # steps + sampling
    OMP_NUM_THREADS=1 python benchmarks/distributed.py --rows 200000 --steps 40
    OMP_NUM_THREADS=1 python benchmarks/distributed.py --tstr           # + full epsilon-1 runs
    OMP_NUM_THREADS=1 python benchmarks/distributed.py --no-speed --image-steps 6    # images only

Adult (train and test files, 50/50 stratified split as in tabular_benchmark.py), public
schema benchmarks/schemas/adult.yaml, one torch thread per process.
- DP steps per second for 1 and 2 processes: from the training log's timestamps, steps 4 to
  the last (the first steps include Opacus' warm-up and, with 2 processes, nothing else: the
  helpers are started before step 1); scaling efficiency = (rate with 2) / (2 x rate with 1).
- Seconds to sample ``--rows`` rows with 1 and 2 processes from the 1-process model, and
  whether the two files are byte-identical.
- ``--image-steps``: BreastMNIST with the default U-Net and batch, median seconds per DP
  step (rank 0's clock, steps 2+) for 1 and 2 processes.
- ``--tstr``: epsilon 1 with the default steps (or ``--tstr-steps``) on 1 and 2 processes, TSTR ROC AUC of each
  (HistGradientBoosting on synthetic, tested on the real test half), and their certificates'
  sigma, q, steps and epsilon.
The machine has 2 cores shared with other users: print ``os.getloadavg()`` next to the
numbers, and rerun when the load was high.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.tabular_benchmark import DATA, load, stratified_split  # noqa: E402
from benchmarks.tabular_metrics import tstr_auc  # noqa: E402
from synthgen.requests import SampleOptions, TrainRequest  # noqa: E402

WARM_UP_STEPS = 3


def train(train_df, schema, out: Path, *, processes: int, epsilon: float, max_steps: int | None):
    from synthgen.tabular.train import train_tabular

    private = out.with_name(out.name + ".private")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_tabular(
            TrainRequest(
                source=train_df,
                target=schema.target.name,
                table_schema=schema,
                epsilon=epsilon,
                out=out,
                private_dir=private,
                holdout=0.0,
                max_steps=max_steps,
                processes=processes,
                # declared: both runs get the same N-hat, hence the same q and sigma
                public_record_count=len(train_df),
                overrides={"secure_rng": False},
            )
        )
    seconds = time.perf_counter() - start
    times = [
        json.loads(line)["time"]
        for line in (private / "training_log.jsonl").read_text().splitlines()
    ]
    steady = times[WARM_UP_STEPS:]
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else float("nan")
    return result, seconds, rate


def sample_seconds(model_dir: Path, out: Path, *, rows: int, processes: int) -> tuple[float, str]:
    from synthgen.tabular.sample import sample_tabular

    start = time.perf_counter()
    sample_tabular(model_dir, SampleOptions(rows=rows, seed=1, processes=processes), out=out)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    out.unlink()
    return seconds, digest


def image_step_seconds(out: Path, *, processes: int, steps: int) -> float:
    """Median seconds per DP step (steps 2+, rank 0's clock) of a BreastMNIST run: the
    default U-Net and batch, epsilon 10, no class critic."""
    import statistics

    from synthgen.images.train import train_images

    private = out.with_name(out.name + ".private")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_images(
            TrainRequest(
                source=DATA.parent / "medmnist" / "breastmnist.npz",
                out=out,
                private_dir=private,
                epsilon=10.0,
                max_steps=steps,
                processes=processes,
                overrides={"secure_rng": False, "critic_epsilon_share": 0.0},
            )
        )
    log = [json.loads(line) for line in (private / "training_log.jsonl").read_text().splitlines()]
    return statistics.median(r["seconds"] for r in log[1:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=60, help="DP-SGD steps for the speed runs")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to sample")
    parser.add_argument("--tstr", action="store_true", help="also epsilon-1 runs with TSTR")
    parser.add_argument(
        "--tstr-steps", type=int, default=None, help="cap on their steps (default: none)"
    )
    parser.add_argument(
        "--image-steps", type=int, default=0, help="also BreastMNIST DP steps (0: skip)"
    )
    parser.add_argument(
        "--no-speed", action="store_true", help="skip the table speed and sampling runs"
    )
    parser.add_argument("--data-dir", default=str(DATA))
    args = parser.parse_args()
    df, schema = load("adult", Path(args.data_dir))
    target = schema.target.name  # type: ignore[union-attr]
    train_df, test_df = stratified_split(df, target, 0.5, seed=0)
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_speed:
            rates = {}
            for processes in (1, 2):
                result, seconds, rate = train(
                    train_df,
                    schema,
                    Path(tmp) / f"speed{processes}",
                    processes=processes,
                    epsilon=1.0,
                    max_steps=args.steps,
                )
                rates[processes] = rate
                print(
                    f"train {processes} process(es): {args.steps} steps, {rate:.2f} DP steps/s "
                    f"(steps {WARM_UP_STEPS + 1}+), {seconds:.0f} s in all, load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            print(f"scaling efficiency (2 processes): {rates[2] / (2 * rates[1]):.2f}", flush=True)
            model_dir = Path(tmp) / "speed1"
            digests = {}
            for processes in (1, 2):
                seconds, digests[processes] = sample_seconds(
                    model_dir, Path(tmp) / "rows.csv", rows=args.rows, processes=processes
                )
                print(
                    f"sample {args.rows} rows, {processes} process(es): {seconds:.1f} s, "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            print(f"sampled files identical: {digests[1] == digests[2]}", flush=True)
        if args.image_steps:
            seconds = {
                p: image_step_seconds(Path(tmp) / f"images{p}", processes=p, steps=args.image_steps)
                for p in (1, 2)
            }
            print(
                f"images (BreastMNIST): {1 / seconds[1]:.3f} DP steps/s with 1 process, "
                f"{1 / seconds[2]:.3f} with 2; scaling efficiency "
                f"{seconds[1] / (2 * seconds[2]):.2f}; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        if args.tstr:
            from synthgen.tabular.model import TabularModel

            for processes in (1, 2):
                result, seconds, rate = train(
                    train_df,
                    schema,
                    Path(tmp) / f"full{processes}",
                    processes=processes,
                    epsilon=1.0,
                    max_steps=args.tstr_steps,
                )
                synthetic = TabularModel.load(result.model_dir).sample(len(train_df), seed=1)
                cert = result.certificate
                print(
                    f"epsilon 1, {processes} process(es): TSTR AUC "
                    f"{tstr_auc(synthetic, test_df, target):.3f}, fit {seconds:.0f} s, "
                    f"{rate:.2f} steps/s; sigma {cert.noise_multiplier:.4f}, q {cert.sample_rate:.5f}, "
                    f"steps {cert.steps}, epsilon {cert.epsilon:.4f}, world_size {cert.world_size}",
                    flush=True,
                )
            print(f"TRTR AUC: {tstr_auc(train_df, test_df, target):.3f}", flush=True)


if __name__ == "__main__":
    main()
