"""The training log of either modality: one JSON line per step in the private directory
(0600; the loss is a statistic of real data without noise), plus an optional experiment
tracker outside the private area, which a private run sends only ``TRACKED_PRIVATE``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthgen.artifacts import TRAINING_LOG, open_private
from synthgen.errors import SynthgenError

# what an experiment tracker may receive from a private run: the privacy spend so far and
# the learning rate (a function of the step only). The loss, its components, gradient
# norms or anything else computed on real data without noise stay in the private log.
TRACKED_PRIVATE = ("epsilon", "lr")


class TrainingLog:
    def __init__(
        self, private_dir: Path, tracker: str | None = None, config: dict[str, Any] | None = None
    ):
        self.path = private_dir / TRAINING_LOG
        self.tracker = tracker
        self._run: Any = None
        if tracker == "wandb":
            try:
                import wandb
            except ImportError as exc:
                raise SynthgenError("--tracker wandb: the wandb package is not installed") from exc
            self._run = wandb.init(project="synthgen", config=config)
        elif tracker == "mlflow":
            try:
                import mlflow
            except ImportError as exc:
                raise SynthgenError(
                    "--tracker mlflow: the mlflow package is not installed"
                ) from exc
            self._run = mlflow.start_run()
            mlflow.log_params(config)

    def start(self) -> None:
        """An empty log, for a new run."""
        open_private(self.path, "w").close()

    def truncate(self, step: int) -> None:
        """Drop the lines of steps after ``step`` (a resumed run runs them again)."""
        if not self.path.exists():
            return
        kept = [
            line
            for line in self.path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] <= step
        ]
        with open_private(self.path, "w") as fh:
            fh.write("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any], *, private_run: bool = True) -> None:
        with open_private(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.tracker is None:
            return
        allowed = TRACKED_PRIVATE if private_run else ("loss", "lr")
        metrics = {k: record[k] for k in allowed if record.get(k) is not None}
        if self.tracker == "wandb":
            self._run.log(metrics, step=record["step"])
        elif self.tracker == "mlflow":
            import mlflow

            mlflow.log_metrics(metrics, step=record["step"])

    def close(self) -> None:
        if self.tracker == "wandb" and self._run is not None:
            self._run.finish()
        elif self.tracker == "mlflow" and self._run is not None:
            import mlflow

            mlflow.end_run()
