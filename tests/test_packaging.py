"""Packaging: the core install (no extras) imports and checks tables; every optional
package belongs to one extra, and a missing one names it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from synthgen.errors import MissingExtra
from synthgen.extras import EXTRA_OF_MODULE, missing_extra, require, require_extra

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# packages that more than one extra installs, and the extras that do
SHARED = {"jinja2": ("report", "service")}
# distribution name -> top-level module, where they differ
MODULE_OF = {"great-expectations": "great_expectations", "pillow": "PIL", "psycopg": "psycopg",
             "pydantic-settings": "pydantic_settings", "python-multipart": "python_multipart"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()


def test_every_extra_package_is_named_by_extras_and_none_is_in_the_core() -> None:
    extras = PROJECT["optional-dependencies"]
    core = {_name(r) for r in PROJECT["dependencies"]}
    for extra in ("images", "report", "service"):
        for requirement in extras[extra]:
            module = MODULE_OF.get(_name(requirement), _name(requirement))
            # a package two extras need (jinja2: the report and the console) is named by one
            assert EXTRA_OF_MODULE.get(module) in SHARED.get(module, (extra,)), requirement
            assert _name(requirement) not in core, requirement
    assert extras["all"] == ["synthgen[images,report,service]"]
    assert "synthgen[all]" in extras["dev"]  # .ci/run installs .[dev] and runs every test


@pytest.mark.slow
def test_the_core_imports_and_checks_a_table_without_any_extra() -> None:
    # blocks every extra's packages, as in a core install, then uses the core
    script = """
import importlib.abc, importlib.util, sys
BLOCKED = set(sys.argv[1].split(","))
_find = importlib.util.find_spec
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
importlib.util.find_spec = lambda name, package=None: (
    None if name.split(".")[0] in BLOCKED else _find(name, package))

import pandas as pd
from synthgen.cli import commands
from synthgen import workflows
import synthgen.tabular.train, synthgen.tabular.sample, synthgen.images.train
from synthgen.errors import SchemaMismatch
from synthgen.tabular.expectations import check_source_table
from synthgen.tabular.schema import Schema
schema = Schema.from_dict({"columns": [
    {"name": "age", "kind": "integer", "min": 0, "max": 120, "nullable": False},
    {"name": "y", "kind": "categorical", "role": "label", "categories": ["a", "b"], "nullable": False}]})
check_source_table(pd.DataFrame({"age": ["30", "40"], "y": ["a", "b"]}), schema)
try:
    check_source_table(pd.DataFrame({"age": ["30", "400"], "y": ["a", "c"]}), schema)
except SchemaMismatch as exc:
    print(len(exc.problems), "problems")
loaded = [m for m in sys.modules if m.split(".")[0] in BLOCKED]
print("loaded:", loaded)
"""
    result = subprocess.run([sys.executable, "-c", script, ",".join(EXTRA_OF_MODULE)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 problems" in result.stdout
    assert "loaded: []" in result.stdout


def test_a_missing_extra_names_the_extra_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(MissingExtra, match=r"reading DICOM needs the images extra .*pip install 'synthgen\[images\]'"):
        require("pydicom", feature="reading DICOM")
    assert missing_extra("x", ModuleNotFoundError("no", name="numpy")) is None  # a core package: a bug


def test_require_extra_checks_every_package_of_the_extra(monkeypatch) -> None:
    import synthgen.extras as extras

    monkeypatch.setattr(extras, "installed", lambda module: module != "matplotlib")
    with pytest.raises(MissingExtra, match="synthgen demo needs the report extra") as caught:
        require_extra("report", feature="synthgen demo")
    assert caught.value.extra == "report" and caught.value.module == "matplotlib"
    require_extra("service", feature="synthgen serve")
