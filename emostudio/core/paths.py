"""Which paths the studio agrees to read when a person types or uploads one.

Two rules, checked on the real path (symlinks and ``..`` resolved):

- The database file and its ``-wal``/``-shm``/``-journal`` companions are never opened
  as plain files: a plain ``open()`` + ``close()`` in a process that holds SQLite
  connections drops SQLite's POSIX locks, and the next process to close the database
  deletes a WAL the studio is still writing into (writes silently lost). The whole data
  folder is refused as an input for the same reason, and because it is the studio's own.
- When import roots are set, a path must lie inside one of them; a path outside gets the
  same message whether or not it exists, so the answer does not tell what is on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from emostudio.core.errors import PathRefused

SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")
ARRAYS_FOLDER = "arrays"
"""Where chunk-level outputs are stored, in the data folder (beside a SQLite database)."""


def real(path: str | Path) -> Path:
    """The absolute path with symlinks resolved (the file need not exist)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def database_files(db_file: Path | None) -> tuple[Path, ...]:
    if db_file is None:
        return ()
    base = real(db_file)
    return tuple(Path(f"{base}{suffix}") for suffix in SQLITE_COMPANIONS)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def same_file(a: Path, b: Path) -> bool:
    """Equal paths, or two names of one file (a hard link, another case on a
    case-insensitive disk, a bind mount)."""
    if a == b:
        return True
    sa, sb = _stat(a), _stat(b)
    return sa is not None and sb is not None and os.path.samestat(sa, sb)


def is_inside(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or below it, by name or by identity of the folder on disk."""
    if path == folder or folder in path.parents:
        return True
    target = _stat(folder)
    if target is None:
        return False
    for ancestor in (path, *path.parents):
        st = _stat(ancestor)
        if st is not None and os.path.samestat(st, target):
            return True
    return False


@dataclass(frozen=True)
class PathPolicy:
    """``roots=None`` allows any folder (the command line, or a studio without users)."""

    protected_files: tuple[Path, ...] = ()
    protected_dirs: tuple[Path, ...] = ()
    roots: tuple[Path, ...] | None = None

    def check(self, path: str | Path) -> Path:
        """The resolved path, or ``PathRefused`` naming the path as the person gave it."""
        shown = self.show(path)
        resolved = real(path)
        if self.is_protected(resolved):
            raise PathRefused(f"{shown}: the studio's own data folder and database are never read as input")
        if self.roots is not None and not any(is_inside(resolved, r) for r in self.roots):
            raise PathRefused(f"{shown}: not inside a folder this studio imports from (see import_roots)")
        return resolved

    def is_protected(self, resolved: Path) -> bool:
        return any(same_file(resolved, f) for f in self.protected_files) or any(
            is_inside(resolved, d) for d in self.protected_dirs
        )

    def check_output(self, path: str | Path) -> Path:
        """A file the studio is asked to write (an export, a backup): never its own
        database, which replacing would cut the running studio off from its data."""
        resolved = real(path)
        if any(same_file(resolved, f) for f in self.protected_files):
            raise PathRefused(f"{path}: that is the studio's own database; choose another file to write")
        return resolved

    def allows(self, path: str | Path) -> bool:
        try:
            self.check(path)
        except PathRefused:
            return False
        return True

    def show(self, path: str | Path) -> str:
        """How a path appears in messages: relative to the import root it is in (so a
        visitor never reads the server's folder layout), else as given."""
        p = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
        for root in self.roots or ():
            if is_inside(p, root):
                rel = p.relative_to(root).as_posix()
                return rel if rel != "." else root.name
        return os.fspath(path)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for in-memory or other backends)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    name = parsed.database
    if name.startswith("file:"):
        name = name[5:].split("?", 1)[0]
    return Path(name)


def studio_policy(settings, roots: list[Path] | tuple[Path, ...] | None = None) -> PathPolicy:
    """The policy for ``settings``' data folder and database, limited to ``roots`` when given."""
    return PathPolicy(
        protected_files=database_files(sqlite_file(settings.db_url)),
        protected_dirs=(real(settings.data_dir),),
        roots=None if roots is None else tuple(real(r) for r in roots),
    )
