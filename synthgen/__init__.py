"""synthgen: differentially private synthetic data for medical tables and images.

    import synthgen
    synth = synthgen.TabularSynthesizer(epsilon=3, target="outcome", schema="schema.yaml")
    synthetic = synth.fit(df).sample(1000)

The Python API is ``TabularSynthesizer`` and ``ImageSynthesizer`` (``docs/python.md``).
The library is importable without the service. Heavy dependencies (torch, opacus,
great_expectations) are imported lazily inside the functions that need them, and the
synthesizers on first use (module ``__getattr__``), so that `import synthgen` and the
CLI's `--help` stay fast.
"""

import importlib as _importlib

__version__ = "0.1.0"
__all__ = ["ImageSynthesizer", "TabularSynthesizer", "Validation", "__version__"]
_LAZY = {"ImageSynthesizer", "TabularSynthesizer", "Validation"}


def __getattr__(name: str) -> object:
    if name in _LAZY:  # imported by name: the layers below import this package's __version__
        return getattr(_importlib.import_module("synthgen.synthesizers"), name)
    raise AttributeError(f"module 'synthgen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
