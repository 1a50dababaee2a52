"""The CLI tests use the tables of the packages their commands drive."""

from tests.evaluate.conftest import heart  # noqa: F401
from tests.tabular.conftest import heart_csv, heart_schema  # noqa: F401
