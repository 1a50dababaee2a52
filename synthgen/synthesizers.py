"""The Python API: ``TabularSynthesizer`` (pandas DataFrames) and ``ImageSynthesizer``
(numpy arrays), as notebooks and scripts use synthgen.

    synth = synthgen.TabularSynthesizer(epsilon=3, target="disease", schema="heart.yaml")
    synth.fit(df)                        # spends the privacy budget, once
    synthetic = synth.sample(1000)       # post-processing: free, repeatable by seed
    synth.certificate.epsilon            # the accountant's epsilon for what ran
    synth.validate(synthetic).save("report")   # for the steward and auditors only
    synth.save("model")                  # the PUBLIC model directory, nothing else

A thin layer over the library's own entry points: the options become one ``TrainRequest``
(checked once, when the synthesizer is built), training and sampling go through
``synthgen.workflows`` and validation through ``synthgen.evaluate`` and ``reports``, as
``synthgen train / sample / validate`` do.

Where the private data goes: the train/holdout split and the training log (real records)
live in a private run directory. Unless ``private_dir`` is given, it is a temporary folder
(0700) that is deleted when the synthesizer is closed (``close()``, a ``with`` block) or
garbage-collected; the model directory lives in the same folder until ``save(dir)``
copies it out. ``save`` writes the public model directory only (weights, config,
DP statistics, certificate): never the split, the log or anything else of the private area.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from synthgen.artifacts import CERTIFICATE, make_private_dir, model_modality, staged_directory
from synthgen.errors import ConfigurationError, InputDataError, ModelLoadError, NotFitted
from synthgen.progress import ProgressCallback
from synthgen.requests import ModalityName, SampleOptions, TrainRequest, build

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from reports.render import ReportPaths
    from synthgen.evaluate.result import ValidationResult
    from synthgen.privacy.certificate import Certificate
    from synthgen.tabular.schema import Schema

__all__ = ["ImageSynthesizer", "TabularSynthesizer", "Validation"]

_UNSET_OUT = Path("<set by fit>")  # TrainRequest needs an ``out``; fit() replaces it


class _Workspace:
    """A 0700 temporary folder, removed by ``close()`` or when ``owner`` is collected
    (``weakref.finalize`` also runs at interpreter exit)."""

    def __init__(self, owner: object) -> None:
        self.path = make_private_dir(Path(tempfile.mkdtemp(prefix="synthgen-")))
        self._finalizer = weakref.finalize(owner, shutil.rmtree, str(self.path), ignore_errors=True)

    def close(self) -> None:
        self._finalizer()


@dataclass
class Validation:
    """The outcome of ``validate``: ``verdict`` ("pass", "warn" or "fail"), the checks,
    and the auditor's report. It holds statistics computed on real data: for the data
    steward and auditors only, never shipped with a release (docs/privacy.md)."""

    result: ValidationResult

    @property
    def verdict(self) -> str:
        return self.result.verdict

    @property
    def checks(self) -> list[Any]:
        return list(self.result.checks)

    def to_dict(self) -> dict[str, Any]:
        """Every number of the report (as ``report.json``)."""
        return self.result.to_json_dict()

    def to_html(self) -> str:
        """The report as one self-contained HTML page (shows inline in Jupyter)."""
        from reports.render import render_html

        return render_html(self.result)

    def _repr_html_(self) -> str:
        return self.to_html()

    def save(self, report_dir: str | Path) -> ReportPaths:
        """Write report.html, report.pdf and report.json into ``report_dir``."""
        from reports.render import write_report

        return write_report(self.result, report_dir)

    def __repr__(self) -> str:
        counts = {
            s: sum(c.status == s for c in self.result.checks) for s in ("pass", "warn", "fail")
        }
        return (
            f"Validation(verdict={self.verdict!r}, pass={counts['pass']}, "
            f"warn={counts['warn']}, fail={counts['fail']})"
        )


class _Synthesizer:
    """What both synthesizers share: the request, the workspace, the model directory."""

    modality: ClassVar[ModalityName]

    def __init__(self, request: TrainRequest | None, private_dir: str | Path | None) -> None:
        self._request = request
        self._private_dir_option = Path(private_dir) if private_dir is not None else None
        self._workspace: _Workspace | None = None
        self._model_dir: Path | None = None
        self._private_dir: Path | None = None  # the fitted run's (None: the model's default)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Delete the temporary folder (the private split unless ``private_dir`` was given,
        and the unsaved model). The synthesizer is unfitted afterwards."""
        if self._workspace is not None:
            self._workspace.close()
            self._workspace = None
            self._model_dir = None
            self._private_dir = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fitted(self) -> bool:
        return self._model_dir is not None

    @property
    def model_dir(self) -> Path:
        """The model directory (a temporary one until ``save``, or the one loaded)."""
        if self._model_dir is None:
            raise NotFitted(
                f"this {type(self).__name__} is not fitted: call fit() first, "
                "or load() a saved model"
            )
        return self._model_dir

    @property
    def certificate(self) -> Certificate:
        """The DP certificate (``synthgen.privacy.certificate.Certificate``): epsilon and
        delta spent, unit of privacy, mechanisms, assumptions. ``.to_json_dict()`` for a dict."""
        from synthgen.privacy.certificate import Certificate

        return Certificate.load(self.model_dir / CERTIFICATE)

    def save(self, path: str | Path) -> Path:
        """Copy the PUBLIC model directory to ``path`` (which must not exist): weights,
        config, DP statistics, schema, accountant and certificate. Nothing of the private
        area (the split, the training log) is written. Returns ``path``."""
        path = Path(path)
        with staged_directory(path) as staging:
            shutil.copytree(self.model_dir, staging, dirs_exist_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path, *, private_dir: str | Path | None = None) -> Self:
        """A synthesizer for the model directory ``path`` (from ``save`` or ``synthgen
        train``); ``private_dir``: its private run directory, needed only by ``validate``
        (default: ``PATH.private``, where ``synthgen train`` puts it)."""
        path = Path(path)
        found = model_modality(path)
        if found != cls.modality:
            raise ModelLoadError(
                f"{path} holds {'an image' if found == 'image' else 'a tabular'} "
                f"model; load it with "
                f"{'ImageSynthesizer' if found == 'image' else 'TabularSynthesizer'}"
            )
        synth = cls.__new__(cls)
        _Synthesizer.__init__(synth, None, private_dir)
        synth._model_dir = path
        synth._private_dir = synth._private_dir_option
        return synth

    def __repr__(self) -> str:
        state = f"model_dir={str(self._model_dir)!r}" if self.fitted else "not fitted"
        return f"{type(self).__name__}({state})"

    # -- the library's entry points ------------------------------------------------------------
    def _check_can_fit(self) -> _Workspace:
        if self._request is None or self.fitted:
            raise ConfigurationError(
                f"this {type(self).__name__} holds a model already: create a new one to train "
                "again (each fit spends its own privacy budget)"
            )
        if self._workspace is None:
            self._workspace = _Workspace(self)
        return self._workspace

    def _fit(self, source: Any, progress: ProgressCallback | None, **changes: Any) -> None:
        from synthgen import workflows

        workspace = self._check_can_fit()
        assert self._request is not None
        # a failed fit keeps its private folder (what it spent) until close(); a retry
        # starts in a new one
        attempts = len(list(workspace.path.glob("private*")))
        private = self._private_dir_option or workspace.path / (
            f"private-{attempts}" if attempts else "private"
        )
        request = self._request.model_copy(
            update={
                "source": source,
                "out": workspace.path / "model",
                "private_dir": private,
                **changes,
            }
        )
        try:
            result = workflows.train(request, progress=progress)
        except BaseException:
            shutil.rmtree(workspace.path / "model", ignore_errors=True)
            raise
        self._model_dir, self._private_dir = Path(result.model_dir), Path(result.private_dir)

    def _sample_file(self, options: SampleOptions, out: Path) -> Path:
        from synthgen import workflows

        return workflows.sample(self.model_dir, options, out=out)

    def _validate(self, synthetic: Path, *, policy: str | Path | None, seed: int) -> Validation:
        from synthgen.evaluate.release import evaluate_release

        result = evaluate_release(
            self.model_dir, synthetic, policy_path=policy, seed=seed, private_dir=self._private_dir
        )
        return Validation(result)


def _sample_options(**fields: Any) -> SampleOptions:
    counts = fields.get("class_counts")
    if counts is not None:  # labels as the user has them (0, 1, "yes"): matched as text
        if not isinstance(counts, dict):
            raise ConfigurationError("class_counts must be a dict {label: count}")
        fields["class_counts"] = {str(label): n for label, n in counts.items()}
    return build(SampleOptions, **fields)


class TabularSynthesizer(_Synthesizer):
    """A DP synthesizer for one table (pandas DataFrame), conditioned on a label column.

    ``epsilon``: the total budget of the fit, preprocessing included. ``target``: the label
    column (or mark it ``role: label`` in the schema). ``schema``: a YAML/JSON file or a
    ``Schema`` with the public bounds and categories. Without one, column names and kinds
    are read from the data without noise and treated as public (the certificate lists them
    under ``assumptions``), and bounds, categories and classes are estimated with DP from a
    share of epsilon, as ``synthgen train`` does without ``--schema``. ``entity``: the column
    naming the patient (or ``role: entity`` in the schema): the unit of privacy becomes the
    patient with all their records (``docs/privacy.md``, "Unit of privacy").

    The other options are those of ``synthgen train`` (``docs/python.md``); ``overrides``
    sets fields of ``TabularTrainingConfig``. Bad options raise ``ConfigurationError`` here,
    before any data is read. ``fit`` raises ``Infeasible`` (with the reasons and what would
    help) when the feasibility estimate says the output would be noise, after spending only
    the DP record count; ``accept_infeasible=True`` trains anyway. See the module docstring
    for where private data goes.
    """

    modality: ClassVar[ModalityName] = "tabular"

    def __init__(
        self,
        *,
        epsilon: float,
        target: str | None = None,
        schema: str | Path | Schema | None = None,
        entity: str | None = None,
        max_records_per_entity: int | None = None,
        public_entity_count: int | None = None,
        delta: float | None = None,
        seed: int = 0,
        max_steps: int | None = None,
        holdout: float = 0.2,
        preprocessing_share: float | None = None,
        noise_multiplicity: int | None = None,
        batch_size: int | None = None,
        secure_rng: bool | None = None,
        public_record_count: int | None = None,
        tracker: str | None = None,
        accept_infeasible: bool = False,
        processes: int | None = None,
        overrides: dict[str, Any] | None = None,
        private_dir: str | Path | None = None,
    ) -> None:
        if schema is not None and not isinstance(schema, str | Path):
            from synthgen.tabular.schema import Schema

            if not isinstance(schema, Schema):
                raise ConfigurationError(
                    f"schema must be a YAML/JSON file or a Schema, got {type(schema).__name__}"
                )
        request = build(
            TrainRequest,
            source=None,
            out=_UNSET_OUT,
            modality="tabular",
            epsilon=epsilon,
            target=target,
            table_schema=schema,
            entity=entity,
            max_records_per_entity=max_records_per_entity,
            public_entity_count=public_entity_count,
            delta=delta,
            seed=seed,
            max_steps=max_steps,
            holdout=holdout,
            preprocessing_share=preprocessing_share,
            noise_multiplicity=noise_multiplicity,
            batch_size=batch_size,
            secure_rng=secure_rng,
            public_record_count=public_record_count,
            tracker=tracker,
            accept_infeasible=accept_infeasible,
            processes=processes,
            overrides=overrides or {},
        )
        super().__init__(request, private_dir)

    def fit(
        self, data: pd.DataFrame | str | Path, *, progress: ProgressCallback | None = None
    ) -> TabularSynthesizer:
        """Train on ``data`` (a DataFrame, or a CSV/Parquet file): spends the budget.
        ``progress``: called with each ``synthgen.progress.ProgressEvent`` (stage, step,
        total, epsilon spent so far)."""
        import pandas as pd

        if isinstance(data, str):
            data = Path(data)
        if not isinstance(data, pd.DataFrame | Path):
            raise InputDataError(
                f"fit() takes a pandas DataFrame or the path of a CSV/Parquet "
                f"file, got {type(data).__name__}"
            )
        if isinstance(data, pd.DataFrame) and data.empty:
            raise InputDataError("fit() got an empty DataFrame: there is nothing to train on")
        self._fit(data, progress)
        return self

    def sample(
        self,
        n: int | None = None,
        *,
        class_counts: dict[Any, int] | None = None,
        seed: int = 0,
        guidance_scale: float | None = None,
        steps: int | None = None,
        processes: int | None = None,
    ) -> pd.DataFrame:
        """``n`` synthetic rows (or ``class_counts``, rows per label) as a DataFrame. No
        budget is spent; the same seed gives the same rows, whatever ``processes`` (worker
        processes drawing them, as ``synthgen sample --processes``)."""
        import pandas as pd

        options = _sample_options(
            rows=n,
            class_counts=class_counts,
            seed=seed,
            guidance_scale=guidance_scale,
            steps=steps,
            spreadsheet_safe=False,
            processes=processes,
        )
        with tempfile.TemporaryDirectory(prefix="synthgen-sample-") as tmp:
            return pd.read_parquet(self._sample_file(options, Path(tmp) / "synthetic.parquet"))

    def validate(
        self,
        synthetic: pd.DataFrame | str | Path,
        *,
        policy: str | Path | None = None,
        seed: int = 0,
    ) -> Validation:
        """Check ``synthetic`` against the real train/holdout split (fidelity, utility,
        privacy checks) and judge it with the release policy (default thresholds, or a
        YAML file). Needs the private split: call it on the fitted synthesizer, or give
        ``private_dir`` to ``load``. The result is for the steward and auditors only."""
        import pandas as pd

        if isinstance(synthetic, str | Path):
            return self._validate(Path(synthetic), policy=policy, seed=seed)
        if not isinstance(synthetic, pd.DataFrame):
            raise InputDataError(
                f"validate() takes a DataFrame or a CSV/Parquet file, got "
                f"{type(synthetic).__name__}"
            )
        with tempfile.TemporaryDirectory(prefix="synthgen-validate-") as tmp:
            path = Path(tmp) / "synthetic.parquet"
            synthetic.to_parquet(path, index=False)
            return self._validate(path, policy=policy, seed=seed)


class ImageSynthesizer(_Synthesizer):
    """A DP class-conditional image synthesizer over numpy arrays: ``fit(images, labels)``
    with uint8 images ``[N, H, W]`` (grayscale) or ``[N, H, W, 3]`` (RGB) and integer class
    indices ``[N]``; ``sample(n)`` returns ``(images, labels)`` in the same layout.

    The options are those of ``synthgen train`` for images (``docs/python.md``);
    ``overrides`` sets fields of the image recipe (``synthgen.images.config``). See the
    module docstring for where private data goes.
    """

    modality: ClassVar[ModalityName] = "image"

    def __init__(
        self,
        *,
        epsilon: float,
        delta: float | None = None,
        seed: int = 0,
        max_steps: int | None = None,
        holdout: float = 0.2,
        noise_multiplicity: int | None = None,
        batch_size: int | None = None,
        secure_rng: bool | None = None,
        public_record_count: int | None = None,
        init_from: str | Path | None = None,
        channels: int | None = None,
        processes: int | None = None,
        entity: str | None = None,
        entity_file: str | Path | None = None,
        max_records_per_entity: int | None = None,
        public_entity_count: int | None = None,
        overrides: dict[str, Any] | None = None,
        private_dir: str | Path | None = None,
    ) -> None:
        request = build(
            TrainRequest,
            source=None,
            out=_UNSET_OUT,
            modality="image",
            entity=entity,
            entity_file=entity_file,
            max_records_per_entity=max_records_per_entity,
            public_entity_count=public_entity_count,
            epsilon=epsilon,
            delta=delta,
            seed=seed,
            max_steps=max_steps,
            holdout=holdout,
            noise_multiplicity=noise_multiplicity,
            batch_size=batch_size,
            secure_rng=secure_rng,
            public_record_count=public_record_count,
            init_from=Path(init_from) if init_from is not None else None,
            channels=channels,
            processes=processes,
            overrides=overrides or {},
        )
        super().__init__(request, private_dir)

    def fit(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        class_names: list[str] | tuple[str, ...] | None = None,
        patient_ids: Any = None,
        progress: ProgressCallback | None = None,
    ) -> ImageSynthesizer:
        """Train on ``images`` and ``labels`` (class indices 0..k-1): spends the budget.
        ``class_names``: the public class list, one name per index; without it the classes
        present are selected with DP (which needs enough images per class).
        ``patient_ids``: one id per image, for patient-level privacy (docs/images.md,
        "Patient-level privacy"); they stay in the private workspace."""
        import numpy as np

        arrays = _image_arrays(images, labels, class_names)
        workspace = self._check_can_fit()
        folder = make_private_dir(workspace.path / "source")
        source = folder / "images.npz"
        _save_private_npz(source, arrays)
        changes: dict[str, Any] = {}
        if patient_ids is not None:
            assert self._request is not None
            if self._request.entity is not None or self._request.entity_file is not None:
                raise ConfigurationError("give patient_ids, or entity_file, not both")
            ids_file = folder / "patient_ids.npy"
            _save_private_npy(ids_file, np.asarray(patient_ids).astype(str))
            changes["entity_file"] = ids_file
        self._fit(source, progress, **changes)
        return self

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's classes: label i of ``sample`` is ``class_names[i]``."""
        from synthgen.artifacts import read_json

        return tuple(read_json(self.model_dir / "spec.json")["class_names"])

    def sample(
        self,
        n: int | None = None,
        *,
        class_counts: dict[Any, int] | None = None,
        seed: int = 0,
        guidance_scale: float | None = None,
        steps: int | None = None,
        sampler: str | None = None,
        candidates: int | None = None,
        critic_guidance: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(images, labels)``: ``n`` synthetic images (or ``class_counts``, images per
        class name) and their class indices. No budget is spent; same seed, same images."""
        import numpy as np

        options = _sample_options(
            rows=n,
            class_counts=class_counts,
            seed=seed,
            guidance_scale=guidance_scale,
            steps=steps,
            sampler=sampler,
            candidates=candidates,
            critic_guidance=critic_guidance,
        )
        with tempfile.TemporaryDirectory(prefix="synthgen-sample-") as tmp:
            path = self._sample_file(options, Path(tmp) / "synthetic.npz")
            with np.load(path, allow_pickle=False) as f:
                return np.asarray(f["images"]), np.asarray(f["labels"]).reshape(-1)

    def validate(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        policy: str | Path | None = None,
        seed: int = 0,
    ) -> Validation:
        """Check synthetic ``images``/``labels`` against the real split (see
        ``TabularSynthesizer.validate``); for the steward and auditors only."""
        from synthgen.images.data import save_npz

        arrays = _image_arrays(images, labels, None)
        with tempfile.TemporaryDirectory(prefix="synthgen-validate-") as tmp:
            path = Path(tmp) / "synthetic.npz"
            save_npz(path, arrays["images"], arrays["labels"])
            return self._validate(path, policy=policy, seed=seed)


def _image_arrays(images: Any, labels: Any, class_names: Any) -> dict[str, Any]:
    """The arrays as the .npz loader takes them; InputDataError names what is wrong."""
    import numpy as np

    if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray | list | tuple):
        raise InputDataError(
            "images must be a numpy array and labels a numpy array or list, got "
            f"{type(images).__name__} and {type(labels).__name__}"
        )
    if images.dtype != np.uint8:
        raise InputDataError(
            f"images must be uint8 (0..255), got {images.dtype}; convert "
            "with np.clip(x, 0, 255).astype(np.uint8)"
        )
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        raise InputDataError(f"images must be [N, H, W] or [N, H, W, 3], got shape {images.shape}")
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels.reshape(-1)
    if labels.ndim != 1 or len(labels) != len(images):
        raise InputDataError(
            f"labels must be one class index per image ({len(images)}), got shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputDataError(f"labels must be integer class indices, got {labels.dtype}")
    arrays: dict[str, Any] = {"images": images, "labels": labels}
    if class_names is not None:
        names = [str(c) for c in class_names]
        if not names or len(set(names)) != len(names):
            raise InputDataError("class_names must be a non-empty list of distinct names")
        arrays["class_names"] = np.array(names)
    return arrays


def _save_private_npy(path: Path, array: Any) -> None:
    import numpy as np

    from synthgen.artifacts import restrict_private

    path.touch(mode=0o600)
    restrict_private(path)
    with path.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _save_private_npz(path: Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    from synthgen.artifacts import restrict_private

    path.touch(mode=0o600)
    restrict_private(path)
    with path.open("wb") as fh:
        np.savez(fh, **arrays)
