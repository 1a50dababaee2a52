"""synthgen: differentially private synthetic medical data.

The library is importable without the service. Heavy dependencies (torch, opacus,
great_expectations) are imported lazily inside the functions that need them, so that
`import synthgen` and the CLI's `--help` stay fast.
"""

__version__ = "0.1.0"
