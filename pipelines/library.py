"""The ML library as the workers see it: one small interface over synthgen's entry points.

Workers call only this interface, so tests can run the whole service with a fast fake
(``Settings.library`` names the implementation as "module:attribute"). Every method here
imports its heavy dependencies (torch, opacus, great_expectations) when called, so the API
process can import this module for free; it never calls these methods.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipelines.errors import Unavailable
from synthgen.errors import SchemaMismatch, SynthgenError
from synthgen.modalities import modality as _modality_named
from synthgen.modalities import spent_epsilon
from synthgen.progress import ProgressCallback, StopCheck
from synthgen.requests import SampleOptions, TrainRequest


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
        self, request: TrainRequest, *, progress: ProgressCallback, should_stop: StopCheck
    ) -> TrainOutcome: ...

    def sample(
        self, model_dir: Path, options: SampleOptions, *, out: Path, progress: ProgressCallback
    ) -> Path: ...

    def validate(
        self,
        model_dir: Path,
        *,
        synthetic: Path,
        report_dir: Path,
        policy: Path | None,
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
        with files_named_by_role({table: "the source table"}):
            _modality_named("tabular").check_source(table, schema=schema, target=target)

    def check_images(self, source: Path) -> None:
        with files_named_by_role({source: "the source images"}):
            _modality_named("image").check_source(source, schema=None, target=None)

    def train(
        self, request: TrainRequest, *, progress: ProgressCallback, should_stop: StopCheck
    ) -> TrainOutcome:
        from synthgen import workflows

        try:
            result = workflows.train(request, progress=progress, should_stop=should_stop)
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("synthgen."):
                raise Unavailable(
                    f"{request.kind} training is not available in this installation"
                ) from exc
            raise
        return TrainOutcome(
            model_dir=Path(result.model_dir), certificate=result.certificate.to_json_dict()
        )

    def sample(
        self, model_dir: Path, options: SampleOptions, *, out: Path, progress: ProgressCallback
    ) -> Path:
        from synthgen import workflows

        # the worker writes the CSV download itself (formulas neutralised) and the Parquet
        # file (values as sampled) from this raw table
        raw = options.model_copy(update={"spreadsheet_safe": False})
        return Path(workflows.sample(model_dir, raw, out=out, progress=progress))

    def validate(
        self,
        model_dir: Path,
        *,
        synthetic: Path,
        report_dir: Path,
        policy: Path | None,
        private_dir: Path | None = None,
    ) -> dict[str, Any]:
        from reports import validate_release

        validate_release(
            model_dir, synthetic, report_dir=report_dir, policy_path=policy, private_dir=private_dir
        )
        data: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
        return data

    def spent_epsilon(self, private_dir: Path, *, delta: float) -> float | None:
        return spent_epsilon(private_dir, delta=delta)

    def certificate(self, model_dir: Path) -> dict[str, Any]:
        from synthgen.artifacts import load_certificate

        return load_certificate(model_dir).to_json_dict()


__all__ = ["Library", "SchemaMismatch", "SynthgenLibrary", "TrainOutcome", "load_library"]
