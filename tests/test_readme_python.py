"""The README's Python examples run as written (tables) or at least compile (images: they
read a MedMNIST file and train for minutes)."""

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
