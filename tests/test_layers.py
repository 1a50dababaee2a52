"""The import contracts of pyproject.toml ([tool.importlinter]): the layers, no cycles
between the modules of a package, benchmarks that never import the tests. CI runs
``lint-imports``; these tests run the same contracts, so the README's test command
catches a broken one too."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import EXIT_STATUS_ERROR, EXIT_STATUS_SUCCESS, lint_imports

REPO = Path(__file__).resolve().parents[1]


def run_lint_imports(root: Path, monkeypatch: pytest.MonkeyPatch, *contracts: str) -> int:
    monkeypatch.chdir(root)  # the packages are found from here
    return lint_imports(
        config_filename=str(root / "pyproject.toml"),
        limit_to_contracts=contracts,
        no_cache=True,
        no_logo=True,
    )


@pytest.mark.parametrize("contract", ["layers", "acyclic", "benchmarks"])
def test_import_contract_is_kept(contract: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_lint_imports(REPO, monkeypatch, contract) == EXIT_STATUS_SUCCESS


def test_import_contracts_catch_a_lower_layer_importing_a_higher_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "toy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("")
    (package / "low.py").write_text("from toy import high\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.importlinter]\nroot_packages = ["toy"]\n\n'
        '[[tool.importlinter.contracts]]\nid = "layers"\nname = "high above low"\n'
        'type = "layers"\nlayers = ["toy.high", "toy.low"]\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert run_lint_imports(tmp_path, monkeypatch) == EXIT_STATUS_ERROR
    (package / "low.py").write_text("")
    assert run_lint_imports(tmp_path, monkeypatch) == EXIT_STATUS_SUCCESS
