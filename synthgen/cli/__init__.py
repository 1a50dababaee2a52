"""The ``synthgen`` command line. One module per command group; see ``app.py``."""


def main() -> None:
    from synthgen.cli import commands  # noqa: F401  (registers the commands)
    from synthgen.cli.app import app

    app()
