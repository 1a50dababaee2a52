"""The private area on disk: directories 0700 and files 0600, whatever the umask.

The private run directory holds real data. Whoever writes in it (CLI, library, service,
worker, the privacy spend log) goes through these helpers, so that another local user can
read nothing of it (the default umask 022 would leave the split world-readable).
``synthgen.artifacts`` re-exports them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700, also when it existed.

    ``mkdir(mode=...)`` alone is not enough: the umask can only remove bits, and an existing
    directory keeps its mode. Parents are created with the usual mode; the leaf is what
    keeps other users out of everything below it.
    """
    path = Path(path)
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def restrict_private(path: Path) -> None:
    """Make a private file 0600, or a private directory and everything under it 0700
    (directories) and 0600 (files). For files written by other libraries (Parquet, npz,
    safetensors, torch), right after they are written. Links are left alone (never
    followed)."""
    path = Path(path)
    if path.is_symlink() or not path.exists():
        return
    if not path.is_dir():
        os.chmod(path, PRIVATE_FILE_MODE)
        return
    os.chmod(path, PRIVATE_DIR_MODE)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, PRIVATE_DIR_MODE)
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.chmod(p, PRIVATE_FILE_MODE)


def open_private(path: Path, mode: str = "a") -> IO[str]:
    """Open a private text file for writing (``"a"`` appends, ``"w"`` truncates); a new
    file is created 0600, an existing one is made 0600."""
    if mode not in ("a", "w"):
        raise ValueError(f"open_private writes only: mode 'a' or 'w', got {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise
