"""Writing files so that a crash or a full disk never leaves half a file behind, and
showing file names that are not valid UTF-8."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def printable(text: str) -> str:
    """``text`` with bytes that were not UTF-8 (kept by Python as surrogates) shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@contextmanager
def atomic_file(dest: str | Path, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``dest``; on success it replaces ``dest``, on any
    error (a full disk included) it is removed and ``dest`` is left as it was."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_copy(source: str | Path, dest: str | Path) -> Path:
    with atomic_file(dest) as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, length=1 << 20)
    return Path(dest)


def atomic_write(dest: str | Path, write: Callable[[IO], None], mode: str = "wb", **open_kwargs) -> Path:
    with atomic_file(dest, mode, **open_kwargs) as f:
        write(f)
    return Path(dest)
