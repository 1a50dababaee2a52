"""``synthgen demo --images``: the image path end to end on BreastMNIST.

Data: the path given, else a verified copy in the user's cache, else the official MedMNIST
download (checksum checked). Then: train at epsilon 10 for a step count sized to a
training budget (about 12 minutes on 2 CPU cores, so the whole demo fits in 20) and sample
a class-balanced synthetic set as .npz and PNG folders. The CLI then validates the release
against the real splits and writes the auditor's report, as for the table demo.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthgen.progress import ProgressCallback, ProgressEvent, ignore_progress
from synthgen.requests import TrainRequest

DEMO_EPSILON = 10.0
DEMO_TRAIN_MINUTES = 12.0
DEMO_SAMPLES = 2000


def run_image_demo(
    data: Path | None,
    out_dir: Path,
    progress: ProgressCallback | None = None,
    *,
    echo: Callable[[str], None] | None = None,
    train_minutes: float = DEMO_TRAIN_MINUTES,
    samples: int = DEMO_SAMPLES,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train and sample into ``out_dir`` (created; ``out_dir/model`` must not exist) and
    return a summary: paths, epsilon and timings. ``echo`` receives a few human-readable
    lines (the CLI passes ``typer.echo``); the library itself never prints."""
    from synthgen.images.loaders import load_image_source
    from synthgen.images.medmnist import resolve_medmnist
    from synthgen.images.output import write_images
    from synthgen.images.sample import ImageModel
    from synthgen.images.step_timing import measure_step_times
    from synthgen.images.train import train_images

    progress = progress or ignore_progress
    say = echo or (lambda _line: None)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = resolve_medmnist(data, "breastmnist", progress=progress)
    overrides = dict(overrides or {})
    source = load_image_source(path)
    spec = source.spec
    progress(ProgressEvent("timing", 0, 0, message="sizing the run to the time budget"))
    probe = measure_step_times(
        n_train=len(source.train),
        image_shape=(spec.channels, spec.image_size, spec.image_size),
        num_classes=spec.num_classes,
        overrides=overrides,
        steps=1,
    )
    steps = max(1, int(train_minutes * 60 * 0.9 / probe["dp_step_mean_seconds"]))
    say(
        f"data: {path} ({len(source.train)} training images); training {steps} DP-SGD steps "
        f"at epsilon {DEMO_EPSILON:g} (about {train_minutes:g} minutes)"
    )

    result = train_images(
        TrainRequest(
            source=path,
            epsilon=DEMO_EPSILON,
            out=out_dir / "model",
            max_steps=steps,
            overrides={**overrides, "steps": steps},
        ),
        progress=progress,
    )
    model = ImageModel.load(result.model_dir)
    spec = model.spec  # the trained spec: a class list found in the labels is DP-selected
    k = spec.num_classes
    balanced = {
        name: samples // k + (1 if i < samples % k else 0)
        for i, name in enumerate(spec.class_names)
    }
    t0 = time.perf_counter()
    images, labels = model.sample(model.counts_for(None, balanced), seed=0, progress=progress)
    sampling_seconds = time.perf_counter() - t0
    npz = write_images(out_dir / "synthetic.npz", images, labels, spec.class_names)
    pngs = write_images(out_dir / "synthetic_png", images, labels, spec.class_names)
    cert = result.certificate
    say(
        f"model: {result.model_dir} (epsilon spent {cert.epsilon:.3f} at delta {cert.delta:.3g}, "
        f"{cert.steps} steps); private run data: {result.private_dir}"
    )
    say(f"synthetic images: {npz} and {pngs}/ ({len(labels)} images in {sampling_seconds:.1f}s)")
    return {
        "data": path,
        "model_dir": result.model_dir,
        "private_dir": result.private_dir,
        "synthetic": npz,
        "synthetic_png": pngs,
        "epsilon": cert.epsilon,
        "delta": cert.delta,
        "steps": cert.steps,
        "noise_multiplier": cert.noise_multiplier,
        "sampling_seconds": sampling_seconds,
        "total_seconds": time.perf_counter() - started,
    }
