"""Which optional extra each optional package comes from, and the error that says so.

``pip install synthgen`` is the core: tables, DP training and sampling. The extras
(``pyproject.toml``) add image folders and DICOM (``images``), validation and the auditor's
report (``report``) and the service (``service``). A feature imports its extra's packages
when it runs, never at module import, so the core stays importable without them; a missing
package becomes one ``MissingExtra`` naming the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from synthgen.errors import MissingExtra

# top-level module name -> the extra that installs it
EXTRA_OF_MODULE = {
    "pydicom": "images",
    "PIL": "images",
    "great_expectations": "report",
    "matplotlib": "report",
    "jinja2": "report",
    "fastapi": "service",
    "uvicorn": "service",
    "sqlalchemy": "service",
    "alembic": "service",
    "psycopg": "service",
    "pydantic_settings": "service",
    "multipart": "service",
    "python_multipart": "service",
    "httpx": "service",
    "celery": "service",
    "redis": "service",
}


def install_hint(extra: str) -> str:
    return f"pip install 'synthgen[{extra}]'"


def missing_extra(feature: str, error: ModuleNotFoundError) -> MissingExtra | None:
    """The ``MissingExtra`` for ``error`` when the module it misses belongs to an extra;
    None when it does not (then the missing module is a bug or a broken install)."""
    top = (error.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return MissingExtra(
        f"{feature} needs the {extra} extra ({top} is not installed): {install_hint(extra)}",
        extra=extra,
        module=top,
    )


def require(module: str, *, feature: str) -> ModuleType:
    """Import ``module`` (from an extra) or raise ``MissingExtra`` saying what to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        error = missing_extra(feature, exc)
        if error is None:
            raise
        raise error from None


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def require_extra(extra: str, *, feature: str) -> None:
    """Raise ``MissingExtra`` unless every package of ``extra`` is installed; a command
    calls it first, so that it fails before it trains, not after."""
    for module, owner in EXTRA_OF_MODULE.items():
        if owner == extra and module not in _ALIASES and not installed(module):
            raise MissingExtra(
                f"{feature} needs the {extra} extra ({module} is not installed): "
                f"{install_hint(extra)}",
                extra=extra,
                module=module,
            )


_ALIASES = {"multipart"}  # python-multipart installs python_multipart (and multipart, older)
