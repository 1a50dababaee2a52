"""The public record count N-hat: released first, composed in the accountant, and the only N
that shipped values are computed from (issue 19, findings 1-2 and 4-5)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthgen.errors import PrivacyParameterError, SchemaError
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.record_count import (
    DECLARED,
    DP_ESTIMATE,
    MAX_RECORD_COUNT_SHARE,
    RECORD_COUNT_SHARE,
    TARGET_COUNT_STD,
    declared_record_count,
    estimate_record_count,
    record_count_share,
)
from synthgen.privacy.record_split import holdout_mask
from synthgen.privacy.secure_random import NoiseSource
from synthgen.requests import TrainRequest

TINY = {"steps": 2, "hidden_width": 8, "n_blocks": 1, "noise_multiplicity": 1,
        "secure_rng": False, "checkpoint_every": 100, "sample_steps": 2}
SCHEMA = """
version: 1
draft: false
columns:
- {name: age, kind: integer, min: 18, max: 100}
- {name: ward, kind: categorical, categories: [a, b, c]}
- {name: outcome, kind: categorical, role: label}
"""


def _table(n: int, rare: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    outcome = rng.choice(["no", "yes"], n).astype(object)
    outcome[:rare] = "rare"
    return pd.DataFrame({"age": rng.integers(20, 90, n), "ward": rng.choice(["a", "b", "c"], n),
                         "outcome": outcome})


def _train(tmp_path: Path, df: pd.DataFrame, schema: str | None, **kwargs: object):
    from synthgen.tabular.train import train_tabular

    tmp_path.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / "source.csv"
    df.to_csv(csv, index=False)
    schema_path = None
    if schema is not None:
        schema_path = tmp_path / "schema.yaml"
        schema_path.write_text(schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train_tabular(TrainRequest(
            source=csv, table_schema=schema_path, target=None if schema else "outcome", epsilon=8.0,
            out=tmp_path / "model", seed=0, overrides=TINY, **kwargs,
        ))


def test_dp_count_is_a_gaussian_release_recorded_in_the_accountant() -> None:
    acc = RunAccountant()
    count = estimate_record_count(
        1000, epsilon=1.0, delta=None, accountant=acc, noise=NoiseSource(secure=False), share=0.02
    )
    assert count.source == DP_ESTIMATE and count.noise_std > 100  # 2% of epsilon 1
    assert [r["name"] for r in acc.releases] == ["record count"]
    assert acc.releases[0]["noise_multiplier"] == pytest.approx(count.noise_std)
    assert count.upper_bound == pytest.approx(count.value + 3 * count.noise_std)
    assert count.default_delta() <= 1e-5
    with pytest.raises(PrivacyParameterError):
        declared_record_count(0)
    assert declared_record_count(500).source == DECLARED


def test_small_budget_raises_the_count_share_so_a_small_table_gets_a_usable_n_hat() -> None:
    """At 2% of epsilon 1 the count's noise std was 148: a 150-row table's N-hat came out
    1-3 (issue 27). The default share grows as epsilon falls; epsilon 10 keeps 2%."""
    acc = RunAccountant()
    count = estimate_record_count(150, epsilon=1.0, delta=None, accountant=acc, noise=NoiseSource(secure=False))
    assert count.noise_std <= TARGET_COUNT_STD <= 30
    assert 0.02 < count.epsilon_share <= MAX_RECORD_COUNT_SHARE
    # the accountant holds the release actually drawn (the certificate shows what was spent)
    assert acc.releases[0]["noise_multiplier"] == pytest.approx(count.noise_std)
    assert record_count_share(10.0, None) == RECORD_COUNT_SHARE  # Adult at epsilon 10: as before
    assert record_count_share(0.02, None) == MAX_RECORD_COUNT_SHARE  # its noise: beyond reach
    assert record_count_share(1.0, None) > record_count_share(3.0, None) >= RECORD_COUNT_SHARE
    draws = [estimate_record_count(150, epsilon=1.0, delta=None, accountant=RunAccountant(),
                                   noise=NoiseSource(secure=False)).value for _ in range(40)]
    assert 100 < np.median(draws) < 200 and min(draws) > 40


def test_split_never_moves_another_record_when_one_is_added() -> None:
    keys = [f"row{i}".encode() for i in range(500)]
    base = holdout_mask(keys, fraction=0.2, seed=4)
    plus = holdout_mask([*keys[:250], b"new", *keys[250:]], fraction=0.2, seed=4)
    assert np.array_equal(np.delete(plus, 250), base)
    assert 0.12 < base.mean() < 0.28
    assert not np.array_equal(base, holdout_mask(keys, fraction=0.2, seed=5))


@pytest.mark.slow
def test_partition_selection_leaves_no_kept_row_count_in_the_certificate(tmp_path: Path) -> None:
    """300 rows, 3 of them with a label too rare to pass partition selection: the sample rate
    used to be batch / 297 while n_training_records said 300 (finding 2)."""
    result = _train(tmp_path, _table(300, rare=3), SCHEMA, holdout=0.0)
    cert = result.certificate
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert "rare" not in json.loads((tmp_path / "model" / "preprocessing.json").read_text())["classes"]
    batch = config["training"]["batch_size"]
    # q is batch / N-hat, and N-hat is what the certificate states: nothing else to read
    assert cert.sample_rate == pytest.approx(min(1.0, batch / cert.n_training_records))
    assert batch == min(4096, max(32, cert.n_training_records // 4))
    assert cert.adjacency == "add/remove one record"
    assert cert.n_training_records_source == DP_ESTIMATE
    assert "record count" in [r["name"] for r in cert.accountant_history["releases"]]


@pytest.mark.slow
def test_declared_public_count_spends_nothing_and_is_checked(tmp_path: Path) -> None:
    declared = SCHEMA + "public_record_count: 400\n"
    result = _train(tmp_path, _table(300), declared, holdout=0.25)
    cert = result.certificate
    assert cert.n_training_records_source == DECLARED and cert.n_training_records == 300
    assert "record count" not in [r["name"] for r in cert.accountant_history["releases"]]
    assert cert.delta == pytest.approx(min(1e-5, 1 / (10 * 300)))
    with pytest.raises(SchemaError, match="public_record_count"):
        _train(tmp_path / "again", _table(300), SCHEMA + "public_record_count: 299\n")
    assert not (tmp_path / "again" / "model.private").exists()  # refused before anything ran


@pytest.mark.slow
def test_no_schema_names_the_kinds_it_read_on_the_certificate(tmp_path: Path) -> None:
    """Column kinds read from the data ship in schema.json and the model layout: the
    certificate names them as an assumption the steward accepted (finding 5)."""
    result = _train(tmp_path, _table(800), None)
    (assumption,) = result.certificate.assumptions
    assert assumption["values"]["ward"]["kind"] == "categorical"
    assert assumption["values"]["outcome"]["role"] == "label"
    assert "schema.json" in assumption["shipped_keys"]
    assert any("ASSUMED PUBLIC" in note for note in result.certificate.notes)
    with_schema = _train(tmp_path / "s", _table(300), SCHEMA)
    assert with_schema.certificate.assumptions == []


@pytest.mark.slow
def test_declared_count_option_wins_over_the_schema(tmp_path: Path) -> None:
    from synthgen.tabular.train import train_tabular

    csv = tmp_path / "source.csv"
    _table(300).to_csv(csv, index=False)
    schema = tmp_path / "schema.yaml"
    schema.write_text(SCHEMA + "public_record_count: 1000\n")
    result = train_tabular(TrainRequest(
        source=csv, table_schema=schema, epsilon=8.0, out=tmp_path / "model", holdout=0.0,
        overrides={**TINY, "public_record_count": 500},
    ))
    assert result.certificate.n_training_records == 500
    assert result.certificate.delta == pytest.approx(min(1e-5, 1 / 5000))


@pytest.mark.slow
def test_image_resume_reuses_the_dp_count(tmp_path: Path) -> None:
    from synthgen.errors import TrainingCancelled
    from synthgen.images.train import train_images
    from tests.images.conftest import TINY, two_class_images

    arrays: dict = {}
    for split, n, seed in (("train", 40, 1), ("val", 8, 2), ("test", 8, 3)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = two_class_images(n, seed)
    arrays["class_names"] = np.array(["0", "1"])  # declared: 40 images are too few for a DP class list
    source = tmp_path / "tiny.npz"
    np.savez(source, **arrays)
    overrides = {**TINY, "critic_epsilon_share": 0.0, "checkpoint_every": 1}
    with pytest.raises(TrainingCancelled):
        train_images(TrainRequest(
            source=source, epsilon=6.0, out=tmp_path / "m", max_steps=3, overrides=overrides,
        ), should_stop=lambda: True)
    from synthgen.images.checkpoint import checkpoint_path, read_checkpoint

    saved = read_checkpoint(checkpoint_path(tmp_path / "m.private")).meta["record_count"]
    result = train_images(TrainRequest(
        source=source, epsilon=6.0, out=tmp_path / "m", max_steps=3, overrides=overrides,
        resume=True,
    ))
    cert = result.certificate
    assert cert.n_training_records == saved["value"] and cert.n_training_records_source == DP_ESTIMATE
    assert [r["name"] for r in cert.accountant_history["releases"]].count("record count") == 1


def test_image_declared_count_below_the_source_is_refused(tmp_path: Path) -> None:
    from synthgen.errors import ConfigurationError
    from synthgen.images.train import train_images
    from tests.images.conftest import TINY, two_class_images

    images, labels = two_class_images(30, seed=1)
    source = tmp_path / "tiny.npz"
    np.savez(source, train_images=images, train_labels=labels)
    with pytest.raises(ConfigurationError, match="public_record_count"):
        train_images(TrainRequest(
            source=source, epsilon=6.0, out=tmp_path / "m", max_steps=1, overrides={**TINY,
            "public_record_count": 29},
        ))
    assert not (tmp_path / "m.private").exists()


def test_loader_assumptions_reach_the_image_certificate() -> None:
    from types import SimpleNamespace

    from synthgen.images.split import loader_assumptions

    assert loader_assumptions(SimpleNamespace()) == []
    loaded = SimpleNamespace(assumptions=["class list read from the labels CSV",
                                          {"name": "channels", "values": {"channels": 1}}])
    assert loader_assumptions(loaded) == [{"name": "class list read from the labels CSV"},
                                          {"name": "channels", "values": {"channels": 1}}]
