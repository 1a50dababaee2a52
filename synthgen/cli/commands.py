"""Imports every command module so that each registers itself on the app."""

from synthgen.cli import demo, sample, schema, train  # noqa: F401
