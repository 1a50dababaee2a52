"""The modalities synthgen trains on, registered in one place (``MODALITIES``). Their heavy
modules (torch, opacus) are imported only when used, so the API process can import this."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Protocol, cast

from synthgen.artifacts import CHECKPOINT_DIR, CHECKPOINT_STATE
from synthgen.artifacts import model_modality as read_modality
from synthgen.errors import InputFileError, SynthgenError
from synthgen.privacy.spend_log import SPEND_LOG, SpendLog, replay
from synthgen.progress import ProgressCallback, StopCheck
from synthgen.requests import ModalityName, SampleOptions, TrainRequest


class Modality(Protocol):
    """Trains and samples with its entry functions (``trainer``, ``sampler``: "module:name",
    imported when first used), checks a source before training (SchemaMismatch,
    InputFileError), and reads what a stopped run in ``private_dir`` has spent from the
    files its layout holds (None: not its layout)."""

    name: ModalityName
    trainer: str
    sampler: str

    def check_source(self, source: Path, *, schema: Path | None, target: str | None) -> None: ...
    def spent_epsilon(self, private_dir: Path, *, delta: float) -> float | None: ...

    def train(
        self, request: TrainRequest, *, progress: ProgressCallback, should_stop: StopCheck | None
    ) -> Any:
        return _function(self.trainer)(request, progress=progress, should_stop=should_stop)

    def sample(
        self, model_dir: Path, options: SampleOptions, *, out: Path, progress: ProgressCallback
    ) -> Path:
        return Path(_function(self.sampler)(model_dir, options, out=out, progress=progress))


def _function(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _spend_log_epsilon(private_dir: Path, delta: float) -> float | None:
    log = SpendLog(private_dir / SPEND_LOG)
    return replay(log.records()).epsilon(delta) if log.exists() else None


def _largest(values: list[float | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return max(known) if known else None


class Tables(Modality):
    name: ModalityName = "tabular"
    trainer = "synthgen.tabular.train:train_tabular"
    sampler = "synthgen.tabular.sample:sample_tabular"

    def check_source(self, source: Path, *, schema: Path | None, target: str | None) -> None:
        """The expectation suite built from the declared schema (none: nothing to check)."""
        from synthgen.tabular.expectations import check_source_table
        from synthgen.tabular.io import read_table
        from synthgen.tabular.schema import Schema

        if schema is None:
            return
        parsed = Schema.load(schema, name="the source's schema file")
        if target:
            parsed = parsed.with_target(target)
        check_source_table(read_table(source, na_values=parsed.na_values), parsed)

    def spent_epsilon(self, private_dir: Path, *, delta: float) -> float | None:
        """The accountant state the trainer writes after every step (``accountant.json``)
        and the spend log; None without the former (not a table's run)."""
        from synthgen.privacy.accountant import RunAccountant

        path = private_dir / "accountant.json"
        if not path.exists():
            return None
        state = RunAccountant.from_state_dict(json.loads(path.read_text())).epsilon(delta)
        return _largest([state, _spend_log_epsilon(private_dir, delta)])


class Images(Modality):
    name: ModalityName = "image"
    trainer = "synthgen.images.train:train_images"
    sampler = "synthgen.images.sample:sample_images"

    def check_source(self, source: Path, *, schema: Path | None, target: str | None) -> None:
        """The source loads (npz arrays or class folders); a decoder's own error on a
        hostile or broken file is an InputFileError."""
        from synthgen.images.loaders import load_image_source

        try:
            load_image_source(source)
        except SynthgenError:
            raise
        except Exception as exc:
            raise InputFileError(f"{source} cannot be read ({type(exc).__name__})") from None

    def spent_epsilon(self, private_dir: Path, *, delta: float) -> float | None:
        """The spend log, the accountant in the latest checkpoint (every
        ``checkpoint_every`` steps, and once before the first step, after the DP class
        histogram) and the epsilon of the last step in ``training_log.jsonl``."""
        from synthgen.privacy.accountant import RunAccountant

        known = [_spend_log_epsilon(private_dir, delta)]
        for name in (CHECKPOINT_DIR, f"{CHECKPOINT_DIR}.old"):
            checkpoint = private_dir / name / CHECKPOINT_STATE
            if checkpoint.exists():
                state = json.loads(checkpoint.read_text())["accountant"]
                known.append(RunAccountant.from_state_dict(state).epsilon(delta))
        known.append(_last_logged_epsilon(private_dir / "training_log.jsonl"))
        return _largest(known)


def _last_logged_epsilon(path: Path) -> float | None:
    """Epsilon of the last step in an image run's training log. A last line cut short (a
    worker killed while writing it) is skipped: the line before it is one step behind,
    and the checkpoint's accountant is read as well."""
    if not path.exists():
        return None
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    for i, line in enumerate(reversed(lines)):
        try:
            record = json.loads(line)
        except ValueError:
            if i == 0:
                continue
            raise
        value = record.get("epsilon")
        return None if value is None else float(value)
    return None


MODALITIES: dict[str, Modality] = {"tabular": Tables(), "image": Images()}


def spent_epsilon(private_dir: Path, *, delta: float) -> float | None:
    """Epsilon spent so far by the run in ``private_dir``: the first modality whose layout
    the directory holds answers (the service charges a stopped job this)."""
    for adapter in MODALITIES.values():
        value = adapter.spent_epsilon(private_dir, delta=delta)
        if value is not None:
            return value
    return None


def modality(name: str) -> Modality:
    try:
        return MODALITIES[name]
    except KeyError:
        raise InputFileError(f"unknown modality {name!r}") from None


def model_modality(model_dir: str | Path) -> ModalityName:
    """``"tabular"`` or ``"image"``, from the model directory's ``config.json``."""
    return cast(ModalityName, read_modality(model_dir))
