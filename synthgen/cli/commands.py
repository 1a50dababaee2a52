"""Imports every command module so that each registers itself on the app, in the order
``synthgen --help`` lists them (commands, then command groups)."""

# isort: off
from synthgen.cli import audit, demo, sample, service, train, validate, schema, users, client  # noqa: F401
# isort: on
