"""``synthgen sample --processes N``: the same file for any N."""

import warnings
from pathlib import Path

import pytest

from synthgen.requests import SampleOptions, TrainRequest
from synthgen.tabular import model as tabular_model
from synthgen.tabular.sample import sample_tabular
from synthgen.tabular.train import train_tabular

warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, shared_data: Path) -> Path:
    import pandas as pd

    from tests.tabular.conftest import HEART_SCHEMA

    tmp = tmp_path_factory.mktemp("heart")
    df = pd.read_csv(shared_data / "tabular" / "heart_disease_cleveland.csv", na_values=["?"])
    df["disease"] = (df["num"] > 0).map({False: "no", True: "yes"})
    df.to_csv(tmp / "heart.csv", index=False)
    (tmp / "heart.yaml").write_text(HEART_SCHEMA)
    request = TrainRequest(source=tmp / "heart.csv", table_schema=tmp / "heart.yaml", epsilon=3.0,
                           out=tmp / "model", max_steps=5, secure_rng=False)
    return train_tabular(request).model_dir


@pytest.mark.slow
def test_two_processes_write_the_file_of_one(small_model: Path, tmp_path: Path, monkeypatch) -> None:
    # small chunks (the plan is cut in this process): 5 chunks, more than the 4 in flight
    monkeypatch.setattr(tabular_model, "CHUNK_ROWS", 400)
    options = {"rows": 1900, "seed": 11, "steps": 8}
    one = sample_tabular(small_model, SampleOptions(**options), out=tmp_path / "one.csv")
    two = sample_tabular(small_model, SampleOptions(**options, processes=2), out=tmp_path / "two.csv")
    other = sample_tabular(small_model, SampleOptions(**{**options, "seed": 12}, processes=2),
                           out=tmp_path / "other.csv")
    assert one.read_text() == two.read_text()
    assert len(one.read_text().splitlines()) == 1 + 1900
    assert other.read_text() != one.read_text()  # the comparison can tell files apart
