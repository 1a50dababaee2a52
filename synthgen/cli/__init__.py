"""The ``synthgen`` command line. One module per command group; see ``app.py``."""

from synthgen.cli.app import main

__all__ = ["main"]
