"""Imports every command module so that each registers itself on the app."""

from synthgen.cli import audit, demo, sample, schema, service, train, validate  # noqa: F401
