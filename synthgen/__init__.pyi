# For type checkers: synthgen/__init__.py exports these lazily (module __getattr__), so
# that `import synthgen` stays cheap; the import linter does not read this stub.
from synthgen.synthesizers import ImageSynthesizer as ImageSynthesizer
from synthgen.synthesizers import TabularSynthesizer as TabularSynthesizer
from synthgen.synthesizers import Validation as Validation

__version__: str
__all__ = ["ImageSynthesizer", "TabularSynthesizer", "Validation", "__version__"]
