"""A fast stand-in for the ML library, so service tests run in seconds.

It keeps the library's contracts that the service relies on: the trainer writes its
accountant state after every step and a resumable checkpoint every few steps in the
private directory, honours ``should_stop`` (raising TrainingCancelled with the epsilon
spent), resumes from the checkpoint with ``resume=True``, and writes the model directory
atomically. Behaviour knobs come from environment variables so that worker subprocesses
see them too:

- SYNTHGEN_FAKE_STEPS (default 10), SYNTHGEN_FAKE_STEP_SECONDS (default 0),
- SYNTHGEN_FAKE_CHECKPOINT_EVERY (default 2), SYNTHGEN_FAKE_FAIL_AT_STEP,
- SYNTHGEN_FAKE_REJECT_SOURCE (the expectation suite refuses every table),
- SYNTHGEN_FAKE_FAIL_VALIDATE (validation raises, once per file named by the variable),
- SYNTHGEN_FAKE_FAIL_IMAGES (the image check raises ValueError, as a decoder would on a
  hostile file; "insufficient": InsufficientData, as the real loader does),
- SYNTHGEN_FAKE_FAIL_WITH_PATH (training raises an error naming the source by its path, as
  the real table reader does).

Image sources (an .npz, or a folder of class folders) get an image "model" whose samples
are an .npz of random 8x8 uint8 images with labels, as the real sampler writes.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from pipelines.library import TrainOutcome
from synthgen.errors import (
    InputFileError,
    InsufficientData,
    SchemaMismatch,
    SynthgenError,
    TrainingCancelled,
)
from synthgen.progress import ProgressCallback, ProgressEvent, StopCheck
from synthgen.requests import SampleOptions, TrainRequest

EPSILON_USED = 0.97  # the fake "accountant" ends a bit below the target, like the real one


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


class FakeLibrary:
    def check_table(self, table: Path, *, schema: Path | None, target: str | None) -> None:
        if os.environ.get("SYNTHGEN_FAKE_REJECT_SOURCE"):
            raise SchemaMismatch(
                "the source table does not meet its schema", ["column 'age': 3 rows out of bounds"]
            )

    def check_images(self, source: Path) -> None:
        failure = os.environ.get("SYNTHGEN_FAKE_FAIL_IMAGES")
        if failure == "insufficient":  # what the real loader says of 300 "PNGs" of zeros
            raise InsufficientData(f"{source}: no readable PNG/JPEG images in the class folders")
        if failure:
            raise ValueError(f"cannot identify image file {source}")

    def train(
        self, request: TrainRequest, *, progress: ProgressCallback, should_stop: StopCheck
    ) -> TrainOutcome:
        source, modality, target = request.source, request.kind, request.target
        epsilon, delta, out, resume = request.epsilon, request.delta, request.out, request.resume
        max_steps, private_dir = request.max_steps, request.private_dir
        assert private_dir is not None
        if os.environ.get("SYNTHGEN_FAKE_FAIL_WITH_PATH"):
            raise InputFileError(f"{source} is not a readable CSV table: ParserError")
        total = max_steps or _env_int("SYNTHGEN_FAKE_STEPS", 10)
        pause = float(os.environ.get("SYNTHGEN_FAKE_STEP_SECONDS", "0"))
        every = _env_int("SYNTHGEN_FAKE_CHECKPOINT_EVERY", 2)
        fail_at = _env_int("SYNTHGEN_FAKE_FAIL_AT_STEP", 0)
        checkpoint = private_dir / "checkpoint" / "state.json"
        start = 0
        if resume:
            start = json.loads(checkpoint.read_text())["step"]
        else:
            if private_dir.exists() and any(private_dir.iterdir()):
                raise SynthgenError(f"private directory {private_dir} is not empty")
            private_dir.mkdir(parents=True, exist_ok=True)
        with (private_dir / "attempts.jsonl").open("a") as log:
            attempt = {"resume": resume, "start": start, "pid": os.getpid()}
            patients = {"entity": request.entity, "cap": request.max_records_per_entity}
            log.write(json.dumps({**attempt, "processes": request.processes, **patients}) + "\n")
        if modality == "image":
            header, classes = [], image_classes(source)
        else:
            with open(source, newline="") as fh:
                header = next(csv.reader(fh))
                classes = (
                    sorted({row[header.index(target)] for row in csv.reader(fh)})
                    if target in header
                    else ["0", "1"]
                )
        for step in range(start + 1, total + 1):
            if pause:
                time.sleep(pause)
            spent = epsilon * EPSILON_USED * step / total
            (private_dir / "accountant.json").write_text(json.dumps({"fake_epsilon": spent}))
            if step % every == 0 or step == total:
                checkpoint.parent.mkdir(exist_ok=True)
                checkpoint.write_text(json.dumps({"step": step}))
            progress(ProgressEvent("train", step, total, spent))
            if fail_at and step == fail_at:
                raise SynthgenError(f"fake failure at step {step}")
            if step < total and should_stop():
                raise TrainingCancelled(
                    f"training cancelled after {step} of {total} steps", epsilon_spent=spent
                )
        staging = out.with_name(f".{out.name}.staging")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        certificate = {
            "epsilon": epsilon * EPSILON_USED,
            "delta": delta if delta is not None else 1e-6,
            "unit": "one row of the source table",
            "private": True,
            "noise_multiplier": 1.0,
            "sample_rate": 0.1,
            "steps": total,
            "max_grad_norm": 1.0,
            "noise_multiplicity": 1,
            "accountant": "rdp",
            "preprocessing_epsilon": 0.1,
            "secure_rng": True,
            "target_epsilon": epsilon,
            "modality": modality,
        }
        (staging / "certificate.json").write_text(json.dumps(certificate))
        (staging / "config.json").write_text(
            json.dumps(
                {
                    "modality": modality,
                    "columns": header,
                    "target": target,
                    "classes": classes,
                }
            )
        )
        os.replace(staging, out)
        return TrainOutcome(model_dir=out, certificate=certificate)

    def sample(
        self, model_dir: Path, options: SampleOptions, *, out: Path, progress: ProgressCallback
    ) -> Path:
        rows, seed, class_counts = options.rows or 0, options.seed, options.class_counts
        config = json.loads((model_dir / "config.json").read_text())
        if config["modality"] == "image":
            return sample_images(config["classes"], rows, out, seed, class_counts)
        rng = random.Random(seed)
        labels: list[str] = []
        if class_counts:
            for label, n in class_counts.items():
                labels += [label] * n
        else:
            labels = [rng.choice(config["classes"]) for _ in range(rows)]
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(config["columns"])
            for i in range(rows):
                writer.writerow(
                    [
                        labels[i] if c == config["target"] else rng.randint(0, 99)
                        for c in config["columns"]
                    ]
                )
                if i % 1000 == 0:
                    progress(ProgressEvent("sample", i, rows))
        return out

    def validate(
        self, model_dir: Path, *, synthetic: Path, report_dir: Path, policy: Path | None,
        private_dir: Path | None = None,
    ) -> dict[str, Any]:
        marker = os.environ.get("SYNTHGEN_FAKE_FAIL_VALIDATE")
        if marker and not Path(marker).exists():
            Path(marker).write_text("failed once")
            raise SynthgenError("fake validation failure")
        report = {"verdict": "pass", "checks": [{"name": "fake", "status": "pass"}]}
        (report_dir / "report.json").write_text(json.dumps(report))
        (report_dir / "report.html").write_text("<html><body><h1>fake report</h1></body></html>")
        (report_dir / "report.pdf").write_bytes(b"%PDF-1.4\n% fake\n%%EOF\n")
        return report

    def spent_epsilon(self, private_dir: Path, *, delta: float) -> float | None:
        path = private_dir / "accountant.json"
        if not path.exists():
            return None
        return float(json.loads(path.read_text())["fake_epsilon"])

    def certificate(self, model_dir: Path) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((model_dir / "certificate.json").read_text())
        return data


def image_classes(source: Path) -> list[str]:
    """Class names of an image source: folder names, or 0..max label of an .npz."""
    import numpy as np

    if source.is_dir():
        return sorted(p.name for p in source.iterdir() if p.is_dir())
    with np.load(source) as data:
        labels = data["labels"] if "labels" in data else data["train_labels"]
    return [str(c) for c in range(int(labels.max()) + 1)]


def sample_images(
    classes: list[str], rows: int, out: Path, seed: int, class_counts: dict[str, int] | None
) -> Path:
    """Random 8x8 images; labels by class_counts (class names) or uniform."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if class_counts:
        labels = np.concatenate(
            [np.full(n, classes.index(name)) for name, n in class_counts.items()]
        )
    else:
        labels = rng.integers(0, len(classes), rows)
    images = rng.integers(0, 256, (len(labels), 8, 8), dtype=np.uint8)
    np.savez(out, images=images, labels=labels.astype(np.uint8).reshape(-1, 1))
    return out
