"""``python -m synthgen``: the same command line as the ``synthgen`` script."""

from synthgen.cli import main

main()
