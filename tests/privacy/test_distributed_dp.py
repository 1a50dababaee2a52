"""Distributed DP-SGD (gloo, spawned CPU processes) against ground truth: the noise is
added once whatever the world size, the clipped sum is the single-process one, and the
accountant holds the global sample rate."""

import math

import pytest
import torch

from synthgen.privacy.accountant import epsilon_for
from tests.privacy.test_dp_sgd import Rows, make_model, per_example_loss
from tests.support import distributed_ranks as ranks

EXPECTED_VARIANCE = (ranks.SIGMA * ranks.CLIP / ranks.ZERO_BATCH) ** 2


def _variance_ratio(noise: torch.Tensor) -> float:
    return float(noise.double().pow(2).mean()) / EXPECTED_VARIANCE


def _within_sampling_error(ratio: float, samples: int) -> bool:
    # the sample variance of n Gaussian draws has relative standard error sqrt(2 / n)
    return abs(ratio - 1) < 5 * math.sqrt(2 / samples)


def test_noise_on_zero_gradients_one_process_has_the_dp_variance():
    (result,) = ranks.run_on_ranks(1, ["noise"], None)
    noise = result["noise"]["noise"]
    assert _within_sampling_error(_variance_ratio(noise), noise.numel())


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One spawn of 2 ranks runs every experiment (starting processes is the slow part)."""
    return ranks.run_on_ranks(2, ["noise", "sum", "rates"], tmp_path_factory.mktemp("w2"))


@pytest.mark.slow
def test_noise_on_zero_gradients_two_ranks_is_added_once(two_ranks):
    noise = two_ranks[0]["noise"]["noise"]
    assert _within_sampling_error(_variance_ratio(noise), noise.numel())
    # all ranks applied the same update: the parameters stay identical
    assert torch.equal(two_ranks[0]["noise"]["weights"], two_ranks[1]["noise"]["weights"])


@pytest.mark.slow  # 20-25 s: its own spawn of 2 ranks
def test_noise_added_on_every_rank_would_be_caught(tmp_path):
    results = ranks.run_on_ranks(2, ["noise"], tmp_path, broken=True)
    noise = results[0]["noise"]["noise"]
    ratio = _variance_ratio(noise)
    assert not _within_sampling_error(ratio, noise.numel())
    assert ratio == pytest.approx(2.0, rel=0.15)


def _clipped_sum_one_record_at_a_time() -> tuple[list[torch.Tensor], list[float]]:
    """Ground truth: each record's gradient alone, clipped at C, summed."""
    data, model = Rows(ranks.SUM_RECORDS), make_model()
    total = [torch.zeros_like(p) for p in model.parameters()]
    norms = []
    for i in range(ranks.SUM_RECORDS):
        model.zero_grad()
        per_example_loss(model, data.__getitems__([i])).sum().backward()
        grads = [p.grad.detach().clone() for p in model.parameters()]
        norm = float(torch.sqrt(sum((g**2).sum() for g in grads)))
        norms.append(norm)
        for acc, g in zip(total, grads, strict=True):
            acc += g * min(1.0, ranks.SUM_CLIP / norm)
    return total, norms


@pytest.mark.slow
def test_clipped_sum_two_ranks_equals_one_process_and_ground_truth(two_ranks):
    truth, norms = _clipped_sum_one_record_at_a_time()
    assert min(norms) > ranks.SUM_CLIP  # every example is clipped: the test exercises it
    (one,) = ranks.run_on_ranks(1, ["sum"], None)
    for rank_result in two_ranks:
        for got, alone, expected in zip(
            rank_result["sum"]["gradient"], one["sum"]["gradient"], truth, strict=True
        ):
            torch.testing.assert_close(got, expected / ranks.SUM_RECORDS, atol=1e-7, rtol=1e-5)
            torch.testing.assert_close(got, alone, atol=1e-7, rtol=1e-5)


@pytest.mark.slow
def test_accountant_of_two_ranks_holds_the_global_rate(two_ranks):
    history = two_ranks[0]["noise"]["history"]
    q = ranks.ZERO_BATCH / ranks.ZERO_RECORDS
    assert history == [(ranks.SIGMA, q, ranks.ZERO_STEPS)]
    assert two_ranks[1]["noise"]["history"] is None  # only rank 0 accounts
    # a per-rank rate (q / W) would claim a smaller epsilon: this comparison catches it
    claimed = epsilon_for(history, delta=1e-5)
    per_rank = epsilon_for([(ranks.SIGMA, q / 2, ranks.ZERO_STEPS)], delta=1e-5)
    assert per_rank < 0.8 * claimed


@pytest.mark.slow
def test_each_rank_samples_its_shard_at_the_global_rate(two_ranks):
    sizes = [sum(step) for step in zip(*(r["rates"]["sizes"] for r in two_ranks), strict=True)]
    q = ranks.RATE_BATCH / ranks.RATE_RECORDS
    mean = sum(sizes) / len(sizes)
    # the union is Binomial(N, q) per step; a per-rank rate q / W would halve the mean
    standard_error = math.sqrt(ranks.RATE_RECORDS * q * (1 - q) / len(sizes))
    assert abs(mean - ranks.RATE_BATCH) < 5 * standard_error


@pytest.mark.slow
def test_noise_on_zero_gradients_four_ranks_is_added_once(tmp_path):
    results = ranks.run_on_ranks(4, ["noise"], tmp_path)
    noise = results[0]["noise"]["noise"]
    assert _within_sampling_error(_variance_ratio(noise), noise.numel())
    assert all(torch.equal(r["noise"]["weights"], results[0]["noise"]["weights"]) for r in results)
