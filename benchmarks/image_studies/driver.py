"""The image benchmarks behind ``benchmarks/images_cpu.py`` and ``benchmarks/images_gpu.py``.

One run: time a DP step against its non-private twin (same K, same batch, random images
of the source's shape, interleaved in one process), size the step count to the training
budget, train on the real source, time the sampling of 10k images with the deterministic
sampler, and evaluate the synthetic images with the release validation's image metrics
(``measure``): utility (TSTR ROC AUC on the real test split), fidelity, the memorisation
checks and the default policy's verdict. Results go to a JSON file and a printed table with
the targets.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.image_studies.measure import evaluate_synthetic, headline, study_options
from synthgen.artifacts import default_private_dir, read_provenance
from synthgen.images.step_timing import measure_step_times
from synthgen.progress import ProgressCallback, ignore_progress
from synthgen.requests import TrainRequest


@dataclass
class BenchmarkSettings:
    data: Path
    out_dir: Path
    epsilon: float = 10.0
    delta: float = 1e-5
    train_minutes: float = 60.0  # training budget; the step count is sized to it
    max_steps: int | None = None  # explicit step count (skips the sizing)
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    sampling_images: int = 10_000  # images timed with the deterministic sampler
    classifier_steps: int = 600  # TSTR / TRTR CNN steps
    classifier_repeats: int = 3  # CNNs per ensemble (TSTR and TRTR)
    # timed steps per mode in the DP / non-DP probe: 3 were too noisy, and 8 still read
    # 0.43-0.58 s on one machine within minutes (training then ran at a median of 0.43 s)
    probe_steps: int = 24
    # share of the budget planned for: the probe reads high (0.61 s a DP step where training
    # ran at a median of 0.53 s, 2026-12-03), and the loop's time limit stops an overrun
    budget_safety: float = 1.0
    targets: dict[str, float] = field(default_factory=dict)
    # public pretraining inside the budget: a non-private model on this public source for
    # pretrain_minutes, then DP fine-tuning for the rest of train_minutes (pretrained.py)
    pretrain_data: Path | None = None
    pretrain_minutes: float = 0.0


def machine_facts() -> dict[str, Any]:
    """What the timings depend on: the CPU model and OpenMP's wait policy (PASSIVE threads
    sleep between operations; on a 2-vCPU Intel VM that made sampling about a third slower)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(libgomp default)")}


def run_benchmark(settings: BenchmarkSettings, *, progress: ProgressCallback = ignore_progress,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    import torch

    from synthgen.images.data import ImageSet
    from synthgen.images.loaders import load_image_source
    from synthgen.images.sample import ImageModel, labels_for_counts
    from synthgen.images.train import train_images

    s = settings
    s.out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"settings": {**asdict(s), "data": str(s.data),
                                            "out_dir": str(s.out_dir)},
                               "torch_threads": torch.get_num_threads(),
                               "cuda": torch.cuda.is_available(), "machine": machine_facts()}
    source = load_image_source(s.data)
    spec = source.spec
    n_train = len(source.train)
    log(f"data {s.data.name}: {n_train} training images, {spec.channels}x{spec.image_size}px, "
        f"{spec.num_classes} classes")

    probe = measure_step_times(n_train=n_train, image_shape=(spec.channels, spec.image_size,
                                                             spec.image_size),
                               num_classes=spec.num_classes, overrides=s.overrides,
                               steps=s.probe_steps, seed=s.seed)
    results["step_timing"] = probe
    log(f"DP step {probe['dp_step_seconds']:.3f}s, non-private step "
        f"{probe['nonprivate_step_seconds']:.3f}s (x{probe['dp_over_nonprivate']:.2f})")
    overrides = dict(s.overrides)
    dp_minutes = s.train_minutes
    if s.pretrain_data is not None:
        public_dir = _pretrain(s, probe, log=log, progress=progress)
        # timings are in the private provenance (run.json holds public values only)
        results["pretraining"] = {**json.loads((public_dir / "run.json").read_text()),
                                  **read_provenance(default_private_dir(public_dir))}
        overrides["init_from"] = str(public_dir)
        dp_minutes -= results["pretraining"]["training_seconds"] / 60
    steps = s.max_steps or max(1, int(dp_minutes * 60 * s.budget_safety
                                      / probe["dp_step_mean_seconds"]))
    results["planned_steps"] = steps
    log(f"training {steps} steps at epsilon {s.epsilon:g}")

    model_dir = s.out_dir / "model"
    started = time.perf_counter()
    # the planned count is the run's length (the recipe's default would otherwise cap it)
    overrides["steps"] = steps
    if s.max_steps is None:  # a hard stop at the budget, should the machine slow down
        # the limit is checked after each step and covers only the loop: stop one step early
        # rather than one late, and leave the setup and the model writing their seconds
        overrides.setdefault("time_limit_minutes",
                             _loop_minutes(dp_minutes, probe["dp_step_mean_seconds"]))
    result = train_images(TrainRequest(
        source=s.data, epsilon=s.epsilon, delta=s.delta, out=model_dir, seed=s.seed,
        max_steps=steps, overrides=overrides,
    ), progress=progress)
    results["training_seconds"] = time.perf_counter() - started
    results["total_training_seconds"] = results["training_seconds"] + results.get(
        "pretraining", {}).get("training_seconds", 0.0)
    cert = result.certificate
    results["certificate"] = {"epsilon": cert.epsilon, "delta": cert.delta, "steps": cert.steps,
                              "noise_multiplier": cert.noise_multiplier,
                              "sample_rate": cert.sample_rate,
                              "noise_multiplicity": cert.noise_multiplicity}
    run = read_provenance(result.private_dir)
    results["median_step_seconds"] = run.get("median_step_seconds")
    log(f"trained in {results['training_seconds']:.0f}s, epsilon {cert.epsilon:.3f}")

    model = ImageModel.load(model_dir)
    counts = model.counts_for(s.sampling_images, None)

    def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        value = fn()
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        return value, time.perf_counter() - t0

    # the sampler's speed (the target), then the released set: with a class critic, its
    # guidance and its choice of `candidates` draws per image
    labels = labels_for_counts(counts)
    images, sampling_seconds = timed(lambda: model.generate(labels, seed=s.seed, progress=progress,
                                                            critic_guidance=0.0))
    sampling_cfg = model.config.get("sampling", {})
    results["sampling"] = {"images": len(labels), "seconds": sampling_seconds,
                           "images_per_second": len(labels) / sampling_seconds,
                           "sampler": sampling_cfg.get("sampler"),
                           "steps": sampling_cfg.get("sampling_steps")}
    log(f"sampled {len(labels)} images in {sampling_seconds:.1f}s")
    if model.critic is not None:
        (images, labels), selected_seconds = timed(
            lambda: model.sample(counts, seed=s.seed, progress=progress))
        results["sampling"].update(candidates=sampling_cfg.get("candidates"),
                                   critic_guidance=sampling_cfg.get("critic_guidance"),
                                   selected_seconds=selected_seconds)
        log(f"sampled {len(labels)} images with the class critic (guidance "
            f"{sampling_cfg.get('critic_guidance')}, {sampling_cfg.get('candidates')} "
            f"candidates each) in {selected_seconds:.1f}s")
    synthetic = ImageSet(images, labels)

    options = study_options(classifier_steps=s.classifier_steps, networks=s.classifier_repeats)
    evaluated = evaluate_synthetic(model_dir, synthetic, options=options, seed=s.seed)
    results["metrics"] = {name: r.to_json_dict() for name, r in evaluated["metrics"].items()}
    results["headline"] = headline(evaluated["metrics"])
    results["verdict"] = evaluated["verdict"]
    results["memorisation"] = evaluated["memorisation"]
    (s.out_dir / "benchmark.json").write_text(json.dumps(results, indent=2, default=_json_default))
    return results


def _pretrain(s: BenchmarkSettings, probe: dict[str, float], *, log: Callable[[str], None],
              progress: ProgressCallback) -> Path:
    """The public model: non-private training on ``s.pretrain_data`` for its share of time."""
    from synthgen.images.train import train_images

    assert s.pretrain_data is not None
    steps = max(1, int(s.pretrain_minutes * 60 * s.budget_safety
                       / probe["nonprivate_step_mean_seconds"]))
    log(f"pretraining on public {s.pretrain_data.name}: {steps} non-private steps")
    public_dir = s.out_dir / "public_model"
    overrides = {**s.overrides, "steps": steps, "public_source": True,
                 "time_limit_minutes": _loop_minutes(s.pretrain_minutes,
                                                     probe["nonprivate_step_mean_seconds"])}
    overrides.pop("init_from", None)  # it describes the DP fine-tuning, not this run
    train_images(TrainRequest(
        source=s.pretrain_data, epsilon=math.inf, out=public_dir, seed=s.seed, max_steps=steps,
        overrides=overrides,
    ), progress=progress)
    return public_dir


# loading, calibration, checkpoints, the class critic (model samples and its DP-SGD: about
# 20 s at one thread) and the model files: everything outside the training loop
SETUP_AND_WRITE_SECONDS = 35.0


def _loop_minutes(budget_minutes: float, step_seconds: float) -> float:
    """The training loop's time limit inside a budget that also pays for setup and writing."""
    return max(1e-3, budget_minutes - (step_seconds + SETUP_AND_WRITE_SECONDS) / 60)


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def _metric(results: dict[str, Any], name: str) -> Any:
    return results.get("headline", {}).get(name)


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(quantity, value, target, verdict) rows for the printed table."""
    t = results["settings"].get("targets", {})
    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, value: float | None, target: float | None, higher: bool, fmt: str) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            rows.append((name, "n/a", "", ""))
            return
        verdict = ""
        if target is not None:
            ok = value >= target if higher else value <= target
            verdict = "PASS" if ok else "FAIL"
        bound = "" if target is None else (">= " if higher else "<= ") + format(target, fmt)
        rows.append((name, format(value, fmt), bound, verdict))

    timing = results.get("step_timing", {})
    add("TSTR ROC AUC (real test)", _metric(results, "tstr_roc_auc"), t.get("tstr_roc_auc"), True, ".3f")
    add("TSTR accuracy", _metric(results, "tstr_accuracy"), None, True, ".3f")
    add("TRTR ROC AUC (reference)", _metric(results, "trtr_roc_auc"), None, True, ".3f")
    add("epsilon spent", results.get("certificate", {}).get("epsilon"), None, True, ".3f")
    if "pretraining" in results:
        add("public pretraining minutes (non-private)",
            results["pretraining"]["training_seconds"] / 60, None, False, ".1f")
        add("DP fine-tuning minutes", results.get("training_seconds", 0) / 60, None, False, ".1f")
    add("training minutes", results.get("total_training_seconds", results.get("training_seconds", 0)) / 60,
        t.get("training_minutes"), False, ".1f")
    add("seconds per DP step (probe)", timing.get("dp_step_seconds"), None, False, ".3f")
    add("seconds per DP step (training median)", results.get("median_step_seconds"), None, False, ".3f")
    add("seconds per non-private step (same K)", timing.get("nonprivate_step_seconds"), None, False, ".3f")
    add("DP / non-private step time", timing.get("dp_over_nonprivate"), t.get("dp_over_nonprivate"), False, ".2f")
    sampling = results.get("sampling", {})
    add(f"seconds to sample {sampling.get('images', 0)} images", sampling.get("seconds"),
        t.get("sampling_seconds"), False, ".1f")
    add("images/s sampled", sampling.get("images_per_second"), None, True, ".0f")
    if sampling.get("selected_seconds") is not None:
        add(f"seconds for {sampling.get('images', 0)} images with the critic (guidance "
            f"{sampling.get('critic_guidance')}, {sampling.get('candidates')} candidates)",
            sampling["selected_seconds"], None, False, ".1f")
    add("Frechet classifier distance", _metric(results, "frechet_classifier_distance"), None, False, ".3f")
    for name in ("precision", "recall", "density", "coverage"):
        add(name, _metric(results, name), None, True, ".3f")
    # memorisation, as the release validation measures it (synthgen.evaluate.images)
    add("nearest-training distance, synthetic / holdout (about 1)",
        _metric(results, "nn_distance_ratio"), None, True, ".3f")
    add("near copies (share; about 0.05 without memorisation)",
        _metric(results, "near_copy_share"), None, False, ".3f")
    add("exact copies of training images (share)", _metric(results, "exact_copy_share"), 0.0, False, ".3f")
    add("closer to training than holdout (share; 0.5)", _metric(results, "closer_to_train_share"),
        None, False, ".3f")
    for key, name in (("memorisation", "memorisation checks (default policy)"),
                      ("verdict", "release verdict (default policy)")):
        if results.get(key):
            rows.append((name, str(results[key]), "pass",
                         "PASS" if results[key] == "pass" else str(results[key]).upper()))
    return rows


def format_table(results: dict[str, Any]) -> str:
    rows = [("quantity", "value", "target", ""), *summary_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def multiplicity_signal(model_dir: Path, images: Any, *, ks: tuple[int, ...] = (1, 2, 4, 8, 16),
                        batch: int = 64, max_grad_norm: float = 1.0,
                        seed: int = 0) -> list[dict[str, float]]:
    """How much of the clipped mean gradient survives the diffusion draws, per K.

    For a fixed model and a fixed batch of b examples, the clipped mean gradient g_K is
    computed twice with independent draws; <g_K, g_K'> estimates |E_draws g_K|^2, the part
    of the update that does not average away. DP-SGD adds noise of norm about
    sigma C sqrt(d) / B whatever K is, so the signal per step grows with K while the
    cost grows linearly: this is the trade-off noise multiplicity makes.
    """
    import torch

    from synthgen.images.data import to_model_range
    from synthgen.images.edm import draw_training_inputs
    from synthgen.images.per_example import VmapPerExampleGradients
    from synthgen.images.sample import ImageModel

    model = ImageModel.load(model_dir, device="cpu")
    denoiser = model.denoiser.train()
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(images), min(batch, len(images)), replace=False))
    x = to_model_range(images.images[idx])
    y = torch.from_numpy(images.labels[idx])
    grads = VmapPerExampleGradients(denoiser, sigma_data=denoiser.cfg.sigma_data)
    params = [p for p in denoiser.parameters() if p.requires_grad]
    d = sum(p.numel() for p in params)
    out = []
    for k in ks:
        means = []
        started = time.perf_counter()
        for rep in range(2):
            g = torch.Generator().manual_seed(seed * 7919 + 104729 * rep + k)
            draws = draw_training_inputs(x, y, multiplicity=k, cfg=denoiser.cfg,
                                         null_label=denoiser.null_label, generator=g)
            grads(draws, batch_size=len(idx), multiplicity=k)
            flat = torch.cat([p.grad_sample.reshape(len(idx), -1) for p in params], dim=1)
            norms = flat.norm(dim=1, keepdim=True)
            clipped = flat * (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
            means.append(clipped.mean(dim=0))
            for p in params:
                del p.grad_sample
        inner = float(means[0] @ means[1])
        out.append({
            "noise_multiplicity": k,
            "signal_norm": math.sqrt(max(inner, 0.0)),
            "mean_norm": float((means[0].norm() + means[1].norm()) / 2),
            "cosine_between_repeats": inner / float(means[0].norm() * means[1].norm()),
            "median_raw_norm": float(norms.median()),
            "seconds_per_repeat": (time.perf_counter() - started) / 2,
            "parameters": d,
        })
    return out
