"""The DP certificate: what an auditor needs to check the guarantee of one model.

Written as ``certificate.json`` in every model directory and shipped with every release.
``epsilon`` is always the accountant's epsilon for what actually ran, preprocessing
included; never the requested target.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthgen.errors import ModelLoadError

if TYPE_CHECKING:
    from synthgen.privacy.accountant import RunAccountant
    from synthgen.privacy.record_count import RecordCount

NOT_PRIVATE = "Infinity"  # JSON has no infinity; float("Infinity") parses in Python and JS
# the neighbouring relation every mechanism of a run is analysed under: Opacus' Poisson RDP
# and the histogram sensitivities both assume it. Under it the record count is private too,
# so ``n_training_records`` holds a DP estimate or a declared public bound, never the count.
ADJACENCY = "add/remove one record"
# patient-level runs (synthgen.privacy.contribution): the unit is a patient, and every
# mechanism is analysed with one patient's records as the difference between neighbours
PATIENT_ADJACENCY = "add/remove one patient with all their records"


@dataclass
class Certificate:
    epsilon: float  # total spent, preprocessing included (math.inf when not private)
    delta: float
    unit: str  # tables: "record" or "patient"; images: "one image"
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
    # the unit in words, e.g. "one row of the source table"
    unit_description: str = ""
    # patient-level runs: the column naming the patient, and the cap on records per patient
    entity_column: str | None = None
    max_records_per_entity: int | None = None
    # processes that ran DP-SGD (the last segment of a resumed run); the mechanism and its
    # epsilon are the same for any number (synthgen.privacy.distributed_dp)
    world_size: int = 1
    # what was read from the data without noise and shipped anyway, accepted by the steward
    # (tables without a schema: column kinds; an .npz's image shape...): each a dict with at
    # least "name" ({"read_from", "accepted_by", "values", "shipped_keys"} where known); the
    # guarantee holds only if they are public. Empty when nothing was.
    assumptions: list[dict[str, Any]] = field(default_factory=list)
    # record-level runs: what the guarantee gives a patient with k records, by group
    # privacy (``group_privacy``); empty for patient-level and non-private runs
    per_patient_group_privacy: list[dict[str, Any]] = field(default_factory=list)
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


@dataclass(frozen=True)
class CertifiedRun:
    """The public facts of one training run, as its modality states them; everything read
    from the accountant (epsilons, mechanisms, history) is computed by build_certificate."""

    modality: str
    unit: str  # what one record is
    private: bool  # False: epsilon = inf, a benchmark model that is never released
    delta: float  # the run's total delta (partition-selection thresholds included)
    target_epsilon: float | None
    noise_multiplier: float | None
    sample_rate: float | None
    steps: int  # the steps that ran (a private run states the accountant's DP-SGD steps)
    max_grad_norm: float
    noise_multiplicity: int
    secure_rng: bool
    record_count: RecordCount  # N-hat: DP, declared, or exact for a non-private run
    assumptions: list[dict[str, Any]]
    dp_sgd: tuple[str, str]  # the DP-SGD entry's name and mechanism, as the modality says
    clipping: dict[str, Any]  # how the DP-SGD entry clips (differs per modality)
    notes: list[str]  # before the shared notes (record count, assumptions)
    later_notes: list[str] = field(default_factory=list)  # after them
    # a release in ``mechanisms``: the images state the sensitivity of their unit counts
    release_mechanism: str = "Gaussian"
    release_extra: dict[str, Any] = field(default_factory=dict)
    accountant_name: str = "rdp"  # of a non-private run
    composition: str | None = None  # None: the default
    unit_description: str = ""
    entity_column: str | None = None  # a patient-level run's: one patient is the unit
    max_records_per_entity: int | None = None
    world_size: int = 1  # DP-SGD processes (torch.distributed ranks)

    @property
    def adjacency(self) -> str:
        return ADJACENCY if self.entity_column is None else PATIENT_ADJACENCY


GROUP_SIZES = (2, 5, 10)  # records per patient the certificate states a group bound for


def group_privacy(epsilon: float, delta: float, records: int) -> dict[str, Any]:
    """What an (epsilon, delta) guarantee on one record gives a patient with ``records``
    records: (k epsilon, k e^((k-1) epsilon) delta) by the group-privacy property (Dwork and
    Roth 2014, lemma 2.2 generalised to delta). A delta of 1 or more protects nothing, and
    is stated as ``None`` with the reason."""
    k = int(records)
    log_delta = math.log(k) + (k - 1) * epsilon + math.log(delta) if delta > 0 else -math.inf
    meaningful = log_delta < 0
    return {
        "records_per_patient": k,
        "epsilon": k * epsilon,
        "delta": math.exp(log_delta) if meaningful else None,
        "meaning": "" if meaningful else "none: the group delta reaches 1",
    }


def build_certificate(accountant: RunAccountant, run: CertifiedRun) -> Certificate:
    """The certificate of ``run``: epsilon is the accountant's for what ran, never the
    target; every mechanism the accountant composed is listed with its parameters."""
    from synthgen import __version__
    from synthgen.privacy.accountant import epsilon_for
    from synthgen.privacy.record_count import certificate_note

    notes = [*run.notes, certificate_note(run.record_count)]
    if run.assumptions:
        notes.append(
            "ASSUMED PUBLIC (read from the data without noise, accepted by the "
            "steward): "
            + "; ".join(str(a.get("name")) for a in run.assumptions)
            + " - see `assumptions`"
        )
    mechanisms: list[dict[str, Any]] = [
        {
            "name": r["name"],
            "mechanism": run.release_mechanism,
            "noise_multiplier": r["noise_multiplier"],
            **run.release_extra,
            "purpose": r["purpose"],
        }
        for r in accountant.releases
    ] + [
        {
            "name": r["name"],
            "mechanism": "subsampled gaussian (Poisson sampling)",
            "noise_multiplier": r["history"][0][0],
            "sample_rate": r["history"][0][1],
            "steps": sum(n for _, _, n in r["history"]),
            "max_grad_norm": r["max_grad_norm"],
            "purpose": r["purpose"],
        }
        for r in accountant.other_runs
    ]
    certificate = Certificate(
        epsilon=math.inf,
        delta=run.delta,
        unit=run.unit,
        unit_description=run.unit_description,
        adjacency=run.adjacency,
        entity_column=run.entity_column,
        max_records_per_entity=run.max_records_per_entity,
        world_size=run.world_size,
        private=run.private,
        noise_multiplier=run.noise_multiplier,
        sample_rate=run.sample_rate,
        steps=run.steps,
        max_grad_norm=None,
        noise_multiplicity=run.noise_multiplicity,
        accountant=run.accountant_name,
        preprocessing_epsilon=math.inf,
        secure_rng=run.secure_rng,
        target_epsilon=run.target_epsilon,
        training_epsilon=math.inf,
        mechanisms=mechanisms,
        accountant_history=accountant.state_dict(),
        modality=run.modality,
        n_training_records=run.record_count.value,
        n_training_records_source=run.record_count.source,
        assumptions=run.assumptions,
        code_version=__version__,
        notes=[*notes, *run.later_notes],
    )
    # privacy sits below artifacts (and its utc_now): the same UTC timestamp, written here
    certificate.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    if run.composition is not None:
        certificate.composition = run.composition
    if not run.private:
        return certificate
    epsilon = accountant.epsilon(run.delta)
    return replace(
        certificate,
        epsilon=epsilon,
        per_patient_group_privacy=(
            [group_privacy(epsilon, run.delta, k) for k in GROUP_SIZES]
            if run.adjacency == ADJACENCY
            else []
        ),
        steps=accountant.sgd_steps,
        max_grad_norm=run.max_grad_norm,
        accountant=accountant.mechanism,
        preprocessing_epsilon=accountant.release_epsilon(run.delta),
        training_epsilon=epsilon_for(accountant.sgd_history, delta=accountant.rdp_delta(run.delta)),
        mechanisms=[
            *mechanisms,
            {
                "name": run.dp_sgd[0],
                "mechanism": run.dp_sgd[1],
                "noise_multiplier": run.noise_multiplier,
                "sample_rate": run.sample_rate,
                "steps": accountant.sgd_steps,
                "max_grad_norm": run.max_grad_norm,
                "noise_multiplicity": run.noise_multiplicity,
                **run.clipping,
            },
        ],
    )
