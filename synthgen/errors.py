"""Typed errors. Every error the library raises on bad input derives from SynthgenError.

Messages name files, columns and row numbers but never a value from the source data:
error text ends up in logs and job events, which must not carry real values.
"""


class SynthgenError(Exception):
    """Base class for every error synthgen raises on bad input or bad state."""


class InputFileError(SynthgenError):
    """A file is missing, unreadable, or not in a format synthgen reads."""


class InputDataError(InputFileError):
    """Data passed in memory (a DataFrame, numpy arrays) is not in a form synthgen takes."""


class SchemaError(SynthgenError):
    """A schema file is malformed or inconsistent."""


class SchemaMismatch(SynthgenError):
    """Data does not conform to its schema (columns, types, bounds, categories, nulls)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


class InsufficientData(SynthgenError):
    """Too few rows, or too few classes, to train a model."""


class PrivacyParameterError(SynthgenError):
    """Invalid privacy parameters (epsilon, delta, noise, sampling)."""


class PrivacyBudgetExceeded(SynthgenError):
    """A request would spend more privacy budget than is left."""


class ModelLoadError(SynthgenError):
    """A model directory is missing, incomplete or from an incompatible version."""


class SamplingError(SynthgenError):
    """Invalid sampling request (row counts, class counts, output path)."""


class ConstraintUnsatisfied(SamplingError):
    """The sampler could not draw rows that keep a declared constraint within its bounded
    number of redraw rounds (synthgen.tabular.constraints)."""


class NotFitted(SynthgenError):
    """An object was used before it was fitted."""


class OutputError(SynthgenError):
    """An output path exists already, or cannot be written."""


class TrainingCancelled(SynthgenError):
    """Training stopped on request before it finished.

    ``epsilon_spent`` is what the steps that ran cost (a cancelled job still pays for them).
    """

    def __init__(self, message: str, *, epsilon_spent: float):
        super().__init__(message)
        self.epsilon_spent = epsilon_spent


class PolicyError(SynthgenError):
    """A release policy file is malformed: unknown keys, or thresholds that are not valid."""


class PrivateDataMissing(SynthgenError):
    """The private run directory of a model (its train/holdout split) is gone or incomplete."""


class ConfigurationError(SynthgenError):
    """An option or override is unknown, out of range, or does not apply to this modality."""


class PretrainingDataOverlap(ConfigurationError):
    """A model given as public pretraining (``init_from``) saw images that are also in this
    run's private training set: its weights carry them without any DP accounting here."""


class ResumeRefused(SynthgenError):
    """An interrupted run cannot be resumed safely: it finished already, or a file that
    holds what it spent or released (checkpoint, spend log, DP statistics) is missing."""


class ResumeMismatch(ResumeRefused, ConfigurationError):
    """``--resume`` was asked with a run parameter that differs from the interrupted run's.

    ``parameter`` names it (``epsilon``, ``delta``, ``max_steps``, an override...); the
    message never carries a value from the data.
    """

    def __init__(self, message: str, *, parameter: str):
        super().__init__(message)
        self.parameter = parameter


class MissingExtra(SynthgenError):
    """A feature needs packages of an optional extra that is not installed.

    ``extra`` names it (``images``, ``report``, ``service``); the message says how to
    install it, e.g. ``pip install 'synthgen[report]'``.
    """

    def __init__(self, message: str, *, extra: str, module: str):
        super().__init__(message)
        self.extra = extra
        self.module = module
