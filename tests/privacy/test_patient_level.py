"""Patient-level DP against ground truth: one clipped gradient per patient, computed from all
of the patient's records; contribution bounding; the split by patient."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.contribution import bound_contributions, group_records, record_weights
from synthgen.privacy.dp_sgd import make_private
from synthgen.privacy.secure_random import NoiseSource
from synthgen.tabular.config import TabularTrainingConfig
from synthgen.tabular.entity_table import EntityTable
from synthgen.tabular.model import build_networks
from synthgen.tabular.preprocess import estimate_statistics
from synthgen.tabular.schema import Schema
from synthgen.tabular.train import record_split

C, K = 0.05, 3  # small clip norm: every patient is clipped
SCHEMA = Schema.from_dict(
    {
        "version": 1,
        "name": "visits",
        "draft": False,
        "columns": [
            {"name": "patient", "role": "entity"},
            {"name": "x", "kind": "continuous", "min": 0, "max": 1},
            {"name": "c", "kind": "categorical", "categories": ["a", "b", "c"]},
            {"name": "y", "kind": "categorical", "role": "label", "categories": [0, 1]},
        ],
    }
)


def visits(records_per_patient: list[int], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p, n in enumerate(records_per_patient):
        label = int(rng.integers(2))
        for _ in range(n):
            rows.append({"patient": f"p{p}", "x": float(rng.random()), "c": str(rng.choice(["a", "b", "c"])), "y": label})
    return pd.DataFrame(rows)


def setup(df: pd.DataFrame):
    stats = estimate_statistics(df, SCHEMA, epsilon=float("inf"), delta=1e-5, preprocessing_share=0.1,
                                accountant=RunAccountant(), noise=NoiseSource(secure=False), histogram_bins=4)
    config = TabularTrainingConfig(hidden_width=16, n_blocks=1)
    torch.manual_seed(0)
    encoder, diffusion, model = build_networks(stats, config)
    nn.init.normal_(model.output.weight, std=0.1)  # the real model starts at zero; test a generic one
    keys = [str(v).encode() for v in df["patient"]]
    return diffusion, model, EntityTable(encoder.encode(df), group_records(keys))


def loss(diffusion, model, batch, seed: int = 1) -> torch.Tensor:
    return diffusion.per_example_loss(model, batch, multiplicity=K, label_dropout=0.0,
                                      generator=torch.Generator().manual_seed(seed))


def direct_gradients(diffusion, model, batch) -> list[list[torch.Tensor]]:
    """The gradient of each patient's loss, one backward per patient (no Opacus)."""
    losses = loss(diffusion, model, batch)
    return [[g.detach() for g in torch.autograd.grad(losses[i], list(model.parameters()), retain_graph=True,
                                                     allow_unused=True)] for i in range(losses.shape[0])]


def norm(grads) -> float:
    return float(torch.sqrt(sum((g**2).sum() for g in grads if g is not None)))


def wrapped(model, data, mode: str):
    return make_private(model, torch.optim.SGD(model.parameters(), lr=1.0), data, noise_multiplier=1e-9,
                        max_grad_norm=C, expected_batch_size=len(data), public_record_count=len(data), steps=1,
                        accountant=RunAccountant(), noise=NoiseSource(secure=False), grad_sample_mode=mode)


@pytest.mark.parametrize("mode", ["ghost", "hooks"])
def test_patient_gradient_is_clipped_once_from_all_its_records(mode: str) -> None:
    df = visits([1, 4, 2, 4])
    diffusion, model, data = setup(df)
    batch = data.__getitems__(list(range(len(data))))
    assert batch["labels"].shape == (4, 4) and batch["record_mask"].sum(1).tolist() == [1, 4, 2, 4]
    direct = direct_gradients(diffusion, model, batch)
    norms = [norm(g) for g in direct]
    assert min(norms) > C  # clipping is active for every patient
    expected = [sum(g[j] * min(1.0, C / n) for g, n in zip(direct, norms, strict=True))
                for j in range(len(direct[0]))]
    pt = wrapped(model, data, mode)
    pt.loss_backward(loss(diffusion, pt.module, batch))
    if mode == "ghost":
        seen = pt.module.per_sample_gradient_norms
    else:
        seen = torch.stack([p.grad_sample.reshape(4, -1).norm(dim=1) for p in model.parameters()], 1).norm(dim=1)
    # Opacus sees one example per patient, with the norm of the patient's whole gradient
    assert seen.shape[0] == 4
    assert seen.detach().numpy() == pytest.approx(np.array(norms), rel=1e-4)
    before = [p.detach().clone() for p in model.parameters()]
    assert pt.step()
    for p0, p1, g in zip(before, model.parameters(), expected, strict=True):
        assert (p0 - p1.detach()).numpy() == pytest.approx((g / 4).numpy(), abs=1e-6)


def test_padding_does_not_change_a_patients_loss() -> None:
    """A patient's loss is the mean over its own records: the same whether the batch pads it
    to 1 or to 4 records (the padding copies weigh nothing)."""
    diffusion, model, data = setup(visits([1, 4]))
    alone = EntityTable(data.records, [[0]])
    padded = data.__getitems__([0])
    assert padded["labels"].shape == (1, 4)
    a = loss(diffusion, model, alone.__getitems__([0]))
    assert a.shape == (1,)
    # the same draws for the real record: same seed, and the real record comes first
    b = loss(diffusion, model, padded)
    assert torch.isfinite(b).all()
    grads = torch.autograd.grad(b.sum(), list(model.parameters()), allow_unused=True)
    assert norm([g for g in grads if g is not None]) > 0


@pytest.mark.parametrize("records", [1, 4])
def test_one_patient_moves_the_clipped_sum_by_at_most_c(records: int) -> None:
    """D and D plus one patient (1 or k records): the summed clipped gradient moves by the
    patient's one clipped gradient, of norm <= C."""
    df = visits([2, 3, records])
    diffusion, model, data = setup(df)
    pt = wrapped(model, data, "hooks")
    batch = data.__getitems__([2])  # the added patient's contribution alone
    pt.loss_backward(loss(diffusion, pt.module, batch))
    pt.optimizer.clip_and_accumulate()
    moved = norm([p.summed_grad for p in model.parameters()])
    assert moved <= C + 1e-6
    assert moved == pytest.approx(C, rel=1e-3)  # clipped: its raw gradient was larger


def test_records_clipped_separately_would_be_caught() -> None:
    """Clipping a patient's records one by one (records as examples) lets one patient move
    the sum by up to k*C: the check above fails for it, which is the point of the check."""
    df = visits([4])
    diffusion, model, data = setup(df)
    per_record = EntityTable(data.records, [[0], [1], [2], [3]])  # records as the unit: wrong
    pt = wrapped(model, per_record, "hooks")
    pt.loss_backward(loss(diffusion, pt.module, per_record.__getitems__([0, 1, 2, 3])))
    pt.optimizer.clip_and_accumulate()
    moved = norm([p.summed_grad for p in model.parameters()])
    assert moved > 1.5 * C  # one patient moved the sum by far more than C


def test_contribution_bounding_keeps_at_most_k_at_random_and_per_patient() -> None:
    keys = [b"a"] * 10 + [b"b"] * 3 + [b"c"] * 9
    keep = bound_contributions(keys, max_records=4, seed=0)
    assert keep[:10].sum() == 4 and keep[10:13].all() and keep[13:].sum() == 4
    # chosen by seed, not always the first records
    choices = {tuple(bound_contributions(keys, max_records=4, seed=s)[:10]) for s in range(5)}
    assert len(choices) > 1
    # another patient added before them never changes which of a patient's records are kept
    more = bound_contributions([b"z"] * 12 + keys, max_records=4, seed=0)
    assert (more[12:] == keep).all()
    weights = record_weights(keys)
    assert weights[:10] == pytest.approx(0.1) and sum(weights) == pytest.approx(3)


def test_split_never_puts_one_patient_on_both_sides() -> None:
    df = visits([int(n) for n in np.random.default_rng(3).integers(1, 8, 200)])
    train, holdout = record_split(df, 0.3, seed=5, entity="patient")
    assert len(train) + len(holdout) == len(df) and len(holdout) > 0
    assert not set(train["patient"]) & set(holdout["patient"])
    # one patient more or less never moves another
    _, holdout2 = record_split(df[df["patient"] != "p0"], 0.3, seed=5, entity="patient")
    assert set(holdout2["patient"]) == set(holdout["patient"]) - {"p0"}


def test_statistics_weigh_a_patient_as_one() -> None:
    """Each histogram changes by L1 norm 1 when one patient with all its records is added."""
    base = visits([2, 3, 1])
    extra = visits([6], seed=9).assign(patient="new")
    both = pd.concat([base, extra], ignore_index=True)
    stats = []
    for df in (base, both):
        keys = [str(v).encode() for v in df["patient"]]
        s = estimate_statistics(df, SCHEMA, epsilon=float("inf"), delta=1e-5, preprocessing_share=0.1,
                                accountant=RunAccountant(), noise=NoiseSource(secure=False), histogram_bins=4,
                                weights=record_weights(keys))
        stats.append(s)
    assert stats[1].class_counts.sum() - stats[0].class_counts.sum() == pytest.approx(1.0)


PATIENT_SCHEMA = """
version: 1
name: neighbours
draft: false
columns:
- {name: patient, role: entity}
- {name: age, kind: integer, min: 18, max: 100}
- {name: weight, kind: continuous, min: 30, max: 200}
- {name: ward, kind: categorical, categories: [a, b, c, z]}
- {name: outcome, kind: categorical, role: label, categories: ["no", "yes"]}
"""


@pytest.mark.slow
def test_tables_plus_one_patient_change_nothing_deterministically(tmp_path) -> None:
    """D and D plus one patient with more records than the cap (same seed): no shipped value
    changes except through the privacy noise."""
    import warnings

    from synthgen.requests import TrainRequest
    from synthgen.tabular.train import train_tabular
    from tests.privacy.test_neighbouring import TINY_TABLE, _check, _train_four

    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 7, 120)
    n = int(sizes.sum())
    base = pd.DataFrame({
        "patient": np.repeat([f"p{i}" for i in range(len(sizes))], sizes),
        "age": rng.integers(20, 90, n),
        "weight": np.round(rng.normal(75, 12, n), 1),
        "ward": rng.choice(["a", "b", "c"], n),
        "outcome": rng.choice(["no", "yes"], n),
    })
    extra = pd.DataFrame({"patient": ["new"] * 12, "age": [99] * 12, "weight": [199.5] * 12,
                          "ward": ["z"] * 12, "outcome": ["yes"] * 12})
    plus_one = pd.concat([base, extra], ignore_index=True)
    schema_path = tmp_path / "schema.yaml"
    schema_path.write_text(PATIENT_SCHEMA)

    def train(source: pd.DataFrame, out) -> None:
        out.parent.mkdir(parents=True)
        csv = out.parent / "source.csv"
        source.to_csv(csv, index=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_tabular(TrainRequest(source=csv, epsilon=10.0, out=out, seed=3, holdout=0.2,
                                       table_schema=schema_path, max_records_per_entity=8,
                                       overrides=TINY_TABLE))

    dirs = _train_four(train, base, plus_one, tmp_path)
    certificate = json.loads((dirs[0] / "certificate.json").read_text())
    assert certificate["unit"] == "patient" and certificate["entity_column"] == "patient"
    assert certificate["max_records_per_entity"] == 8
    assert certificate["adjacency"] == "add/remove one patient with all their records"
    _check(dirs)


@pytest.mark.slow
def test_entity_option_makes_a_patient_level_run_and_record_runs_say_record(tmp_path) -> None:
    """``entity=`` (the CLI's --entity) on a schema that has the column as an identifier;
    without it the same table trains at record level and the certificate says so."""
    import warnings

    from synthgen.requests import TrainRequest
    from synthgen.tabular.train import train_tabular
    from tests.conftest import repeatable_privacy_noise
    from tests.privacy.test_neighbouring import TINY_TABLE

    schema_path = tmp_path / "schema.yaml"
    schema_path.write_text(PATIENT_SCHEMA.replace("role: entity", "role: identifier"))
    rng = np.random.default_rng(1)
    n = 150
    df = pd.DataFrame({"patient": [f"p{i % 40}" for i in range(n)], "age": rng.integers(20, 90, n),
                       "weight": np.round(rng.normal(75, 12, n), 1), "ward": rng.choice(["a", "b", "c"], n),
                       "outcome": rng.choice(["no", "yes"], n)})
    certificates = {}
    for entity in ("patient", None):
        out = tmp_path / f"model-{entity}"
        # seeded noise: 40 patients leave the DP class counts near zero in a rare draw
        with warnings.catch_warnings(), repeatable_privacy_noise(3):
            warnings.simplefilter("ignore")
            result = train_tabular(TrainRequest(source=df, epsilon=10.0, out=out, seed=3, table_schema=schema_path,
                                                entity=entity, overrides=TINY_TABLE))
        certificates[entity] = result.certificate.to_json_dict()
        schema = json.loads((out / "schema.json").read_text())
        assert all(c.get("kind") is None for c in schema["columns"] if c["name"] == "patient")  # never synthesised
    patient, record = certificates["patient"], certificates[None]
    assert (patient["unit"], patient["entity_column"], patient["max_records_per_entity"]) == ("patient", "patient", 8)
    assert patient["adjacency"] == "add/remove one patient with all their records"
    assert (record["unit"], record["entity_column"], record["max_records_per_entity"]) == ("record", None, None)
    assert record["adjacency"] == "add/remove one record"
    # what the record-level run gives a patient: group privacy, checked against the direct
    # formula (k eps, k e^((k-1) eps) delta); a patient-level run needs no such bound
    assert patient["per_patient_group_privacy"] == []
    groups = {g["records_per_patient"]: g for g in record["per_patient_group_privacy"]}
    eps, delta = record["epsilon"], record["delta"]
    assert sorted(groups) == [2, 5, 10]
    assert groups[2]["epsilon"] == pytest.approx(2 * eps)
    assert groups[2]["delta"] == pytest.approx(2 * math.exp(eps) * delta)
    assert groups[10]["delta"] is None and groups[10]["meaning"].startswith("none")  # eps ~10


def test_entity_options_without_an_entity_are_refused(tmp_path) -> None:
    from synthgen.errors import ConfigurationError
    from synthgen.requests import TrainRequest
    from synthgen.tabular.train import train_tabular

    schema_path = tmp_path / "schema.yaml"
    schema_path.write_text(PATIENT_SCHEMA.replace("role: entity", "role: identifier"))
    df = visits([3] * 30).rename(columns={"x": "weight"})
    with pytest.raises(ConfigurationError, match="need an entity column"):
        train_tabular(TrainRequest(source=df, epsilon=1.0, out=tmp_path / "m", table_schema=schema_path,
                                   max_records_per_entity=4))
    # images take the entity too, as an id source (tests/images/test_patients.py): a
    # column name is not one
    from synthgen.images.entities import patient_options

    image_request = TrainRequest(source=tmp_path, epsilon=1.0, out=tmp_path / "m", modality="image",
                                 entity="patient")
    with pytest.raises(ConfigurationError, match="dicom:KEYWORD"):
        patient_options(image_request)
