"""The one-run canary audit on the production tabular recipe: below the claim with the
production noise, a violation without it (the test that shows the audit can fail), and a
bug inside the secure noise hook is caught too."""

import pytest
import torch
from typer.testing import CliRunner

from synthgen.cli import commands  # noqa: F401  (registers the commands)
from synthgen.cli.app import app
from synthgen.demo import breast_cancer_schema_path, breast_cancer_table
from synthgen.privacy.secure_random import NoiseSource
from synthgen.tabular.audit import audit_tabular
from synthgen.tabular.schema import Schema
from tests.conftest import repeatable_privacy_noise

STEPS = 30  # production q = 1/4 on the 569-row table; 30 steps sample every included canary


@pytest.fixture(scope="module")
def public_table():
    return breast_cancer_table(), Schema.load(breast_cancer_schema_path())


@pytest.mark.slow
@pytest.mark.parametrize("epsilon", [1.0, 10.0])
def test_production_noise_keeps_the_bound_below_the_claim(public_table, epsilon: float) -> None:
    table, schema = public_table
    with repeatable_privacy_noise(7):  # the bound is right 95% of runs; pin this run
        report = audit_tabular(table, schema, epsilon=epsilon, canaries=1000, steps=STEPS)
    assert report.noise_multiplier_used == report.noise_multiplier
    assert report.steps == STEPS and report.canaries == 1000
    assert report.claimed_epsilon <= epsilon
    assert report.bound.epsilon < report.claimed_epsilon
    assert not report.violation and report.verdict == "consistent"


@pytest.mark.slow
def test_a_secure_noise_hook_that_adds_nothing_is_caught(public_table, monkeypatch) -> None:
    """The canaries go through the production noise step: break it and the audit fails."""
    table, schema = public_table
    monkeypatch.setattr(NoiseSource, "gaussian_like", lambda self, reference, std: torch.zeros_like(reference))
    report = audit_tabular(table, schema, epsilon=1.0, canaries=1000, steps=STEPS)
    assert report.noise_multiplier_used == report.noise_multiplier  # the bug is not in sigma
    assert report.violation
    assert report.bound.epsilon > 4 * report.claimed_epsilon


runner = CliRunner()


@pytest.mark.slow
def test_audit_cli_flags_the_run_without_noise() -> None:
    result = runner.invoke(app, ["audit", "--no-noise", "--epsilon", "1", "--steps", str(STEPS)])
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "AUDIT ONLY" in out and "verdict                    VIOLATION: bug" in out
    claimed = float(out.split("claimed epsilon")[1].split()[0])
    lower = float(out.split("empirical epsilon (lower)")[1].split()[0])
    assert lower > claimed


@pytest.mark.parametrize("args, fragment", [
    (["--canaries", "1"], "--canaries must be at least 2"),
    (["--epsilon", "0"], "epsilon must be a positive finite number"),
    (["--epsilon", "inf"], "epsilon must be a positive finite number"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--data", "missing.csv"], "--data needs --schema"),
    (["--schema", "s.yaml"], "give --data too"),
    (["--delta", "0.5"], "must be smaller than 1/N"),
])
def test_audit_cli_bad_input_is_one_error_line(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["audit", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert result.stdout == ""


def _tiny_run(canaries, *, noise_multiplier: float, steps: int, mode: str = "ghost"):
    from synthgen.privacy.accountant import RunAccountant
    from synthgen.privacy.dp_sgd import make_private
    from tests.privacy.test_dp_sgd import Rows, make_model

    data, model = Rows(40), make_model()
    optimizer = torch.optim.SGD([{"params": list(model.parameters())}, canaries.param_group()], lr=0.1)
    training = make_private(model, optimizer, data, noise_multiplier=noise_multiplier, max_grad_norm=0.5,
                            expected_batch_size=10, public_record_count=40, steps=steps, accountant=RunAccountant(),
                            noise=NoiseSource(secure=False), grad_sample_mode=mode)
    return training


def test_canaries_join_the_sum_at_the_run_sample_rate_with_norm_c() -> None:
    from synthgen.privacy.audit import GradientCanaries
    from tests.privacy.test_dp_sgd import per_example_loss

    canaries = GradientCanaries(2000, max_grad_norm=0.5, seed=3)
    training = _tiny_run(canaries, noise_multiplier=1e-9, steps=20)
    canaries.attach(training)
    for batch in training.loader:
        if len(batch["x"]) == 0:
            training.empty_backward()
        else:
            training.loss_backward(per_example_loss(training.module, batch))
        training.step()
    assert canaries.steps == 20
    counts = canaries.scores
    # without noise a score is the number of steps that sampled the canary: a whole number,
    # zero for excluded canaries, Binomial(20, 1/4) on average for included ones
    assert counts == pytest.approx(counts.round(), abs=1e-4)
    assert counts[~canaries.included] == pytest.approx(0.0, abs=1e-4)
    assert counts[canaries.included].mean() == pytest.approx(20 * 0.25, rel=0.05)
    assert float(canaries.parameter.detach().abs().max()) == 0.0  # never moved (lr 0)


def test_canaries_refuse_wiring_they_cannot_audit() -> None:
    from synthgen.errors import PrivacyParameterError
    from synthgen.privacy.audit import GradientCanaries

    canaries = GradientCanaries(10, max_grad_norm=0.5, seed=0)
    with pytest.raises(PrivacyParameterError, match="ghost"):
        canaries.attach(_tiny_run(canaries, noise_multiplier=1.0, steps=1, mode="hooks"))
    with pytest.raises(PrivacyParameterError, match="param_group"):
        GradientCanaries(10, max_grad_norm=0.5, seed=0).attach(_tiny_run(canaries, noise_multiplier=1.0, steps=1))
    with pytest.raises(PrivacyParameterError):
        GradientCanaries(1, max_grad_norm=0.5, seed=0)
