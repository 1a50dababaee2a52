"""Shared fixtures. Tests run with one torch thread: the CI machine has two cores and the
suite shares them with PostgreSQL, Redis and the service's processes."""

from __future__ import annotations

import contextlib
import os
import types
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SYNTHGEN_SHARED_DATA", REPO.parent / "shared" / "data"))

# the service fixtures (a store per backend, the app, users, the in-process worker)
pytest_plugins = ["tests.support.service"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs CUDA")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the shared datasets are missing: {SHARED_DATA} (set SYNTHGEN_SHARED_DATA)")
    return SHARED_DATA


@contextlib.contextmanager
def repeatable_privacy_noise(seed: int) -> Iterator[None]:
    """Privacy noise and Poisson masks drawn from a seeded stream instead of the OS CSPRNG,
    for tests whose assertions are about what one training run learned: with fresh noise
    each CI run such a test passes or fails by chance (a 242-row table at epsilon 3 is
    mostly noise). Tests only: the product never lets a seed reach the privacy noise."""
    from synthgen.privacy import secure_random

    stream = np.random.default_rng(seed)

    def seeded_bytes(n: int) -> bytes:
        return stream.bytes(n)

    with pytest.MonkeyPatch.context() as patch:
        # only that module's view of os changes, not os.urandom for the whole process
        patch.setattr(secure_random, "os", types.SimpleNamespace(urandom=seeded_bytes))
        yield
