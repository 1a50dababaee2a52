"""The DP certificate: what an auditor needs to check the guarantee of one model.

Written as ``certificate.json`` in every model directory and shipped with every release.
``epsilon`` is always the accountant's epsilon for what actually ran, preprocessing
included; never the requested target.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthgen.errors import ModelLoadError

NOT_PRIVATE = "Infinity"  # JSON has no infinity; float("Infinity") parses in Python and JS
# the neighbouring relation every mechanism of a run is analysed under: Opacus' Poisson RDP
# and the histogram sensitivities both assume it. Under it the record count is private too,
# so ``n_training_records`` holds a DP estimate or a declared public bound, never the count.
ADJACENCY = "add/remove one record"


@dataclass
class Certificate:
    epsilon: float  # total spent, preprocessing included (math.inf when not private)
    delta: float
    unit: str  # what one "record" is, e.g. "one row of the source table"
    private: bool
    noise_multiplier: float | None
    sample_rate: float | None
    steps: int
    max_grad_norm: float | None
    noise_multiplicity: int
    accountant: str  # "rdp"
    preprocessing_epsilon: float  # the preprocessing releases alone, at the same delta
    secure_rng: bool
    target_epsilon: float | None = None
    training_epsilon: float | None = None  # DP-SGD alone, at the same delta
    composition: str = "RDP composition of all Gaussian mechanisms of the run"
    mechanisms: list[dict[str, Any]] = field(default_factory=list)
    accountant_history: dict[str, Any] = field(default_factory=dict)
    modality: str = "tabular"
    # a DP estimate of the training records, or the steward's declared public count/bound
    n_training_records: int | None = None
    # where n_training_records comes from: "dp_estimate", "declared_public", or
    # "exact (NOT PRIVATE run)" (synthgen.privacy.record_count)
    n_training_records_source: str = ""
    # neighbouring datasets differ by adding or removing one unit (``unit``)
    adjacency: str = ADJACENCY
    # what was read from the data without noise and shipped anyway, accepted by the steward
    # (tables without a schema: column kinds; an .npz's image shape...): each a dict with at
    # least "name" ({"read_from", "accepted_by", "values", "shipped_keys"} where known); the
    # guarantee holds only if they are public. Empty when nothing was.
    assumptions: list[dict[str, Any]] = field(default_factory=list)
    code_version: str = ""
    created_at: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("epsilon", "target_epsilon", "training_epsilon", "preprocessing_epsilon"):
            if isinstance(d[key], float) and math.isinf(d[key]):
                d[key] = NOT_PRIVATE
        return d

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json_dict(), indent=2, sort_keys=False) + "\n")

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> Certificate:
        d = dict(d)
        for key in ("epsilon", "target_epsilon", "training_epsilon", "preprocessing_epsilon"):
            if d.get(key) == NOT_PRIVATE:
                d[key] = math.inf
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def load(cls, path: Path) -> Certificate:
        try:
            return cls.from_json_dict(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise ModelLoadError(f"no certificate at {path}") from exc
        except (json.JSONDecodeError, TypeError) as exc:
            raise ModelLoadError(f"certificate {path} is not valid: {exc}") from exc
