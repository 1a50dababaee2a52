"""The library sets OpenMP's wait policy itself (``synthgen.runtime``), so that training
runs as fast from Python as from the CLI (issue 22)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from synthgen import runtime, workflows
from tests.conftest import REPO


def python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environ.update(PYTHONPATH=str(REPO), **env)
    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code],
                          env=environ, capture_output=True, text=True, timeout=120)
    return (done.stdout + done.stderr).strip()


def test_configure_threads_sets_passive_before_torch_loads() -> None:
    code = ("import os; from synthgen.runtime import configure_threads; configure_threads(); "
            "print(os.environ['OMP_WAIT_POLICY'])")
    assert python(code) == "PASSIVE"


def test_configure_threads_keeps_the_users_policy() -> None:
    code = ("import os; from synthgen.runtime import configure_threads; configure_threads(); "
            "print(os.environ['OMP_WAIT_POLICY'])")
    assert python(code, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"


def test_the_cli_applies_the_library_setting() -> None:
    assert python("import os, synthgen.cli.app; print(os.environ['OMP_WAIT_POLICY'])") == "PASSIVE"


@pytest.mark.slow
def test_torch_loaded_first_trains_on_one_thread_and_warns() -> None:
    code = ("import warnings, torch; torch.set_num_threads(2); from synthgen import runtime\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    with runtime.compute_threads(): inside = torch.get_num_threads()\n"
            "print(inside, torch.get_num_threads(), 'OMP_WAIT_POLICY' in str(caught[0].message))")
    assert python(code).splitlines()[-1] == "1 2 True"


@pytest.mark.filterwarnings("ignore:torch was imported before synthgen")
def test_workflows_train_sets_the_policy_before_the_trainer_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    class Recorder:
        def train(self, request: Any, **_: Any) -> None:
            seen["policy"] = os.environ.get("OMP_WAIT_POLICY")

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(runtime, "_too_late", False)
    monkeypatch.setattr(workflows, "modality", lambda name: Recorder())
    request = type("Request", (), {"kind": "tabular"})()
    workflows.train(request)
    assert seen["policy"] == "PASSIVE"
