"""The ML library as the workers see it: one small interface over synthgen's entry points.

Workers call only this interface, so tests can run the whole service with a fast fake
(``Settings.library`` names the implementation as "module:attribute"). Every method here
imports its heavy dependencies (torch, opacus, great_expectations) when called, so the API
process can import this module for free; it never calls these methods.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipelines.errors import Unavailable
from synthgen.errors import InputFileError, SchemaMismatch, SynthgenError
from synthgen.progress import ProgressEvent

ProgressCallback = Callable[[ProgressEvent], None]
StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class TrainOutcome:
    model_dir: Path
    certificate: dict[str, Any]  # Certificate.to_json_dict()


class Library(Protocol):
    def check_table(self, table: Path, *, schema: Path | None, target: str | None) -> None:
        """Run the expectation suite built from ``schema``; raise SchemaMismatch."""

    def check_images(self, source: Path) -> None:
        """Check that an image source loads (npz arrays or class folders)."""

    def train(
        self,
        source: Path,
        *,
        modality: str,
        target: str | None,
        schema: Path | None,
        epsilon: float,
        delta: float | None,
        out: Path,
        seed: int,
        max_steps: int | None,
        holdout: float,
        private_dir: Path,
        overrides: dict[str, Any],
        progress: ProgressCallback,
        should_stop: StopCheck,
        resume: bool,
    ) -> TrainOutcome: ...

    def sample(
        self,
        model_dir: Path,
        *,
        rows: int,
        out: Path,
        seed: int,
        class_counts: dict[str, int] | None,
        guidance_scale: float | None,
        steps: int | None,
        candidates: int | None,
        critic_guidance: float | None,
        progress: ProgressCallback,
    ) -> Path: ...

    def validate(
        self, model_dir: Path, *, synthetic: Path, report_dir: Path, policy: Path | None,
        private_dir: Path | None = None,
    ) -> dict[str, Any]:
        """Write report.html, report.pdf and report.json to ``report_dir``; return the
        JSON report (with a top-level "verdict")."""

    def spent_epsilon(self, private_dir: Path, *, delta: float) -> float | None:
        """Epsilon spent so far by a (possibly interrupted) run, from its accountant
        state; None when the run left no accountant state."""

    def certificate(self, model_dir: Path) -> dict[str, Any]: ...


@contextmanager
def files_named_by_role(roles: dict[Path, str]) -> Iterator[None]:
    """Library errors name files by their path; a service client knows them by their role
    ("the source table"). Rewrites the message of a SynthgenError raised inside, in place
    (its type and attributes stay)."""
    try:
        yield
    except SynthgenError as exc:
        def rename(text: str) -> str:
            for path, role in roles.items():
                text = text.replace(str(path), role)
            return text

        exc.args = tuple(rename(a) if isinstance(a, str) else a for a in exc.args)
        if isinstance(exc, SchemaMismatch):
            exc.problems = [rename(p) for p in exc.problems]
        raise


def load_library(spec: str) -> Library:
    module_name, _, attr = spec.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr or "Library")
    except (ImportError, AttributeError) as exc:
        raise Unavailable(f"cannot load the ML library {spec!r}: {exc}") from exc
    library: Library = obj() if isinstance(obj, type) else obj
    return library


class SynthgenLibrary:
    """The real thing: ``synthgen.workflows`` and friends."""

    def check_table(self, table: Path, *, schema: Path | None, target: str | None) -> None:
        from synthgen.tabular.io import read_table
        from synthgen.tabular.schema import Schema

        if schema is None:
            return
        parsed = Schema.load(schema, name="the source's schema file")
        if target:
            parsed = parsed.with_target(target)
        with files_named_by_role({table: "the source table"}):
            df = read_table(table, na_values=parsed.na_values)
        from synthgen.tabular.expectations import check_source_table

        check_source_table(df, parsed)

    def check_images(self, source: Path) -> None:
        from synthgen.images.loaders import load_image_source

        with files_named_by_role({source: "the source images"}):
            try:
                load_image_source(source)
            except SynthgenError:
                raise
            except Exception as exc:  # a decoder's own error on a hostile or broken file
                raise InputFileError(
                    f"the source images cannot be read ({type(exc).__name__})"
                ) from None

    def train(
        self,
        source: Path,
        *,
        modality: str,
        target: str | None,
        schema: Path | None,
        epsilon: float,
        delta: float | None,
        out: Path,
        seed: int,
        max_steps: int | None,
        holdout: float,
        private_dir: Path,
        overrides: dict[str, Any],
        progress: ProgressCallback,
        should_stop: StopCheck,
        resume: bool,
    ) -> TrainOutcome:
        from synthgen import workflows

        try:
            result = workflows.train(
                source,
                modality="image" if modality == "image" else "tabular",
                target=target,
                schema=schema,
                epsilon=epsilon,
                delta=delta,
                out=out,
                seed=seed,
                max_steps=max_steps,
                holdout=holdout,
                private_dir=private_dir,
                overrides=overrides,
                progress=progress,
                should_stop=should_stop,
                resume=resume,
            )
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("synthgen."):
                raise Unavailable(
                    f"{modality} training is not available in this installation"
                ) from exc
            raise
        return TrainOutcome(
            model_dir=Path(result.model_dir), certificate=result.certificate.to_json_dict()
        )

    def sample(
        self,
        model_dir: Path,
        *,
        rows: int,
        out: Path,
        seed: int,
        class_counts: dict[str, int] | None,
        guidance_scale: float | None,
        steps: int | None,
        candidates: int | None,
        critic_guidance: float | None,
        progress: ProgressCallback,
    ) -> Path:
        from synthgen import workflows

        # the worker writes the CSV download itself (formulas neutralised) and the Parquet
        # file (values as sampled) from this raw table
        kwargs: dict[str, Any] = {"spreadsheet_safe": False}
        if guidance_scale is not None:
            kwargs["guidance_scale"] = guidance_scale
        if steps is not None:
            kwargs["steps"] = steps
        if candidates is not None:
            kwargs["candidates"] = candidates
        if critic_guidance is not None:
            kwargs["critic_guidance"] = critic_guidance
        path = workflows.sample(
            model_dir,
            rows=rows,
            out=out,
            seed=seed,
            class_counts=class_counts,
            progress=progress,
            **kwargs,
        )
        return Path(path)

    def validate(
        self, model_dir: Path, *, synthetic: Path, report_dir: Path, policy: Path | None,
        private_dir: Path | None = None,
    ) -> dict[str, Any]:
        from reports import validate_release

        validate_release(model_dir, synthetic, report_dir=report_dir, policy_path=policy,
                         private_dir=private_dir)
        data: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
        return data

    def spent_epsilon(self, private_dir: Path, *, delta: float) -> float | None:
        """The spend log (``spend.jsonl``, every mechanism that ran, both modalities) and,
        tables: the accountant state the trainer writes after every step
        (``accountant.json``); images: the accountant in the latest
        checkpoint (every ``checkpoint_every`` steps, and once before the first step, after
        the DP class histogram) and the epsilon of the last step in ``training_log.jsonl``
        (written after every step)."""
        from synthgen.privacy.accountant import RunAccountant
        from synthgen.privacy.spend_log import SPEND_LOG, SpendLog, replay

        path = private_dir / "accountant.json"
        if path.exists():
            state = json.loads(path.read_text())
            value = RunAccountant.from_state_dict(state).epsilon(delta)
            log = SpendLog(private_dir / SPEND_LOG)
            if log.exists():  # append-only, written before each mechanism's result is used
                value = max(value, replay(log.records()).epsilon(delta))
            return float(value) if math.isfinite(value) else math.inf
        known: list[float] = []
        log = SpendLog(private_dir / SPEND_LOG)
        if log.exists():
            known.append(replay(log.records()).epsilon(delta))
        for name in ("checkpoint", "checkpoint.old"):
            checkpoint = private_dir / name / "state.json"
            if checkpoint.exists():
                state = json.loads(checkpoint.read_text())["accountant"]
                known.append(RunAccountant.from_state_dict(state).epsilon(delta))
        last = _last_logged_epsilon(private_dir / "training_log.jsonl")
        if last is not None:
            known.append(last)
        if not known:
            return None
        value = max(known)
        return float(value) if math.isfinite(value) else math.inf

    def certificate(self, model_dir: Path) -> dict[str, Any]:
        from synthgen.artifacts import load_certificate

        return load_certificate(model_dir).to_json_dict()


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


__all__ = ["Library", "SchemaMismatch", "SynthgenLibrary", "TrainOutcome", "load_library"]
