"""The image fixtures (tiny two-class images, torch at one thread) for the study tests."""

from tests.images.conftest import tiny_npz  # noqa: F401  (a fixture, found by name)
