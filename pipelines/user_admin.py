"""User administration on the server (``synthgen users ...``), without the HTTP API.

Whoever can read the deployment's settings (SYNTHGEN_DATA_DIR, SYNTHGEN_DATABASE_URL) can
administer its users with the functions of ``pipelines.auth``, in a transaction from
``operator_transaction``: it opens the store (upgrading it) and acts as the local operator
``operator:<login name>``, as recorded in the audit log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from pipelines.auth import Actor, operator
from pipelines.services import open_store
from pipelines.settings import Settings


@contextmanager
def operator_transaction(*, write: bool = True) -> Iterator[tuple[Session, Actor]]:
    try:
        login = os.getlogin()
    except OSError:
        login = os.environ.get("USER", "cli")
    with open_store(Settings()).transaction(write=write) as session:
        yield session, operator(login)
