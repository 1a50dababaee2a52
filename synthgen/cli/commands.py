"""Imports every command module so that each registers itself on the app."""

from synthgen.cli import audit, client, demo, sample, schema, train, validate  # noqa: F401
