"""The README's Python examples run as written, on the bundled table and on the real
BreastMNIST file under ../shared/data."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO


def readme_python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_has_a_table_and_an_image_example() -> None:
    blocks = readme_python_blocks()
    assert len(blocks) == 2
    assert "TabularSynthesizer" in blocks[0] and "ImageSynthesizer" in blocks[1]
    compile(blocks[1], "README.md (images)", "exec")


@pytest.mark.slow
def test_readme_table_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_python_blocks()[0], "README.md (tables)", "exec"), namespace)
    synth = namespace["synth"]
    assert isinstance(namespace["synthetic"], pd.DataFrame) and len(namespace["synthetic"]) == 1000
    assert synth.certificate.private and 0 < synth.certificate.epsilon <= 3
    assert namespace["report"].verdict in ("pass", "warn", "fail")
    assert (tmp_path / "model" / "certificate.json").exists()
    assert not (tmp_path / "model" / "train.parquet").exists()
    synth.close()


@pytest.mark.slow
def test_readme_image_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.service import SHARED_DATA

    source = SHARED_DATA / "medmnist" / "breastmnist.npz"
    if not source.is_file():
        pytest.skip(f"{source} is not here (see ../shared/data/README.md)")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "breastmnist.npz").symlink_to(source)
    namespace: dict = {}
    exec(compile(readme_python_blocks()[1], "README.md (images)", "exec"), namespace)
    images, labels = namespace["images"], namespace["labels"]
    assert images.shape == (100, 28, 28) and images.dtype.name == "uint8"
    assert set(labels.ravel().tolist()) <= {0, 1}
    assert namespace["synth"].certificate.private
    namespace["synth"].close()
