"""Service settings, read from ``SYNTHGEN_*`` environment variables (pydantic-settings).

One ``Settings`` object configures the API, the local worker, the Celery workers and the
service CLI, so every process of one deployment agrees on where data and the store live.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SQLITE_FILE = "synthgen.db"


def default_data_dir() -> Path:
    """A per-user data directory: XDG on Linux, Application Support on macOS,
    LOCALAPPDATA on Windows."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "synthgen"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA")
        return (Path(base) if base else Path.home() / "AppData" / "Local") / "synthgen"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "synthgen"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTHGEN_", extra="ignore")

    # where the store (SQLite by default), the private area and the release area live
    data_dir: Path = Field(default_factory=default_data_dir)
    # SQLAlchemy URL; default: a SQLite file in data_dir. PostgreSQL:
    # postgresql+psycopg://user:password@host:5432/synthgen
    database_url: str | None = None
    # how jobs reach workers: "local" (workers poll the job table) or "celery" (Redis broker)
    executor: Literal["local", "celery"] = "local"
    broker_url: str = "redis://127.0.0.1:6379/0"
    celery_queue: str = "synthgen"

    # uploads: refused above these limits (413), nothing is kept
    max_upload_bytes: int = Field(default=256 * 2**20, gt=0)  # a table (CSV or Parquet) upload
    # at most the library's own cap (synthgen.tabular.schema.MAX_SCHEMA_BYTES), which the
    # workers apply when they read the schema again
    max_schema_bytes: int = Field(default=2**20, gt=0, le=2**20)
    max_rows: int = Field(default=2_000_000, gt=0)
    max_columns: int = Field(default=1_000, gt=0)
    # archives (.zip, .npz): members, total expanded size, compression ratio (of the whole
    # archive and of each member over 1 MiB; also a Parquet file's decoded size)
    max_archive_members: int = Field(default=200_000, gt=0)
    max_extracted_bytes: int = Field(default=4 * 2**30, gt=0)
    max_compression_ratio: float = Field(default=200.0, gt=1)

    # -- hostile input (issue 20): upload size per kind, CSV cells --------------------------
    # (tables: max_upload_bytes; schemas: max_schema_bytes; archive members, expanded size
    # and whole-archive compression ratio: max_archive_members, max_extracted_bytes,
    # max_compression_ratio). Each is checked while the bytes stream in, with bounded memory.
    # an image upload (.npz, or .zip of class folders) as sent, before it is expanded
    max_image_upload_bytes: int = Field(default=2**30, gt=0)
    # one CSV cell: a 200 MB one-cell CSV took the API process past 1.1 GB in pandas;
    # the scan that refuses it reads 1 MiB at a time
    max_csv_cell_bytes: int = Field(default=64 * 2**10, gt=0)
    # -- end of the issue-20 block --------------------------------------------------------

    # jobs
    max_sample_rows: int = Field(default=1_000_000, gt=0)  # per request
    lease_seconds: float = Field(default=60.0, gt=0)  # a worker silent this long is presumed dead
    max_attempts: int = Field(default=3, ge=1)  # claims of one job before it is failed
    poll_seconds: float = Field(default=1.0, gt=0)  # local worker: how often it looks for work
    train_max_steps: int | None = Field(default=None, gt=0)  # deployment-wide cap on DP-SGD steps
    # DP-SGD processes this worker runs per training job (docs/distributed.md): a worker
    # setting, not a job's, as a job may resume on another worker; images train on CPU then
    train_processes: int = Field(default=1, ge=1, le=64)
    holdout: float = Field(default=0.2, ge=0, lt=1)  # share of a source kept for validation
    # trainer options applied to every table job (JSON), e.g. {"checkpoint_every": 10}
    train_overrides: dict[str, Any] = Field(default_factory=dict)
    # trainer options applied to every image job (JSON; keys of synthgen/images/config.py),
    # e.g. {"checkpoint_every": 10, "batch_size": 64}
    image_train_overrides: dict[str, Any] = Field(default_factory=dict)
    validation_policy: Path | None = None  # release gate policy for `synthgen validate`
    # the ML entry points the workers call ("module:attribute"); tests swap in a fake
    library: str = "pipelines.library:SynthgenLibrary"

    # -- access quotas and rate limits (issue 20: hostile access) ------------------------------
    # docs/service.md "Limits" lists these with their environment variables; 0 turns one off.
    # Requests per minute per API key; above it 429 with Retry-After. Requests without a
    # valid key share one budget per client address. In-process by default (a token bucket
    # refilled evenly: a burst of a whole minute's worth is allowed).
    requests_per_minute: int = Field(default=600, ge=0)
    # Redis URL (e.g. the broker's) to count requests there, shared by every API process
    # (fixed minute windows); default: each process counts on its own
    rate_limit_url: str | None = None
    # queued or running synthesis and sample jobs one user may have; above it 409
    max_open_jobs_per_user: int = Field(default=8, ge=0)
    # records those open jobs of one user may ask for together (max_sample_rows bounds one)
    max_open_rows_per_user: int = Field(default=2_000_000, ge=0)
    # -- end of access quotas ----------------------------------------------------------------

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    # -- derived ---------------------------------------------------------------------------
    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / SQLITE_FILE}"

    @property
    def private_dir(self) -> Path:
        """Source data, splits, training runs and reports computed on real data."""
        return self.data_dir / "private"

    @property
    def release_dir(self) -> Path:
        """Synthetic data and certificates: what may leave, once approved."""
        return self.data_dir / "releases"

    @property
    def models_dir(self) -> Path:
        """Model directories (differentially private; never downloaded through the API)."""
        return self.data_dir / "models"

    @property
    def max_request_bytes(self) -> int:
        """Whole request body: the largest upload kind, a schema and multipart overhead."""
        largest = max(self.max_upload_bytes, self.max_image_upload_bytes)
        return largest + self.max_schema_bytes + 64 * 1024


@lru_cache
def get_settings() -> Settings:
    return Settings()
