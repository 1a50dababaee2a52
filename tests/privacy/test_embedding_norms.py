"""The fast embedding norm sampler gives Opacus' numbers and the true per-example norms."""

from __future__ import annotations

import pytest
import torch
from opacus.grad_sample.embedding_norm_sample import compute_embedding_norm_sample
from torch import nn

from synthgen.privacy.embedding_norms import embedding_norm_sample


@pytest.mark.parametrize("shape", [(7, 3), (5, 4, 6), (1, 1)])
def test_norms_equal_opacus_and_the_per_example_gradients(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    layer = nn.Embedding(11, 4)
    # few indices, so that examples look one index up several times (those add up)
    ids = torch.randint(0, 3, shape)
    backprops = torch.randn(*shape, 4)
    ours = embedding_norm_sample(layer, [ids], backprops)[layer.weight]
    theirs = compute_embedding_norm_sample(layer, [ids], backprops)[layer.weight]
    # ground truth: each example's gradient of the weight, built densely
    flat_ids, flat_grads = ids.reshape(shape[0], -1), backprops.reshape(shape[0], -1, 4)
    truth = torch.stack([
        torch.zeros(11, 4).index_add_(0, flat_ids[i], flat_grads[i]).norm() for i in range(shape[0])
    ])
    torch.testing.assert_close(ours, truth)
    torch.testing.assert_close(ours, theirs)


def test_make_private_in_ghost_mode_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-example check in test_dp_sgd.py (ghost mode, repeated category indices)
    then runs through this sampler against one-example-at-a-time gradients."""
    from opacus.grad_sample.grad_sample_module_fast_gradient_clipping import (
        GradSampleHooksFastGradientClipping as Hooks,
    )

    from synthgen.privacy.accountant import RunAccountant
    from synthgen.privacy.dp_sgd import make_private
    from synthgen.privacy.secure_random import NoiseSource

    monkeypatch.setitem(Hooks.NORM_SAMPLERS, nn.Embedding, compute_embedding_norm_sample)
    from tests.privacy.test_dp_sgd import Rows, make_model

    model = make_model()
    make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), Rows(8), noise_multiplier=1.0,
                 max_grad_norm=1.0, expected_batch_size=2, public_record_count=8, steps=1,
                 accountant=RunAccountant(), noise=NoiseSource(secure=False), grad_sample_mode="ghost")
    assert Hooks.NORM_SAMPLERS[nn.Embedding] is embedding_norm_sample
