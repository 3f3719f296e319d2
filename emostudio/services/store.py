"""Open the studio's repository from settings (creating the data dir and migrating)."""

from __future__ import annotations

import os

from emostudio.core.config import Settings, get_settings
from emostudio.core.paths import sqlite_file
from emostudio.db.repository import Repository
from emostudio.db.session import DatabaseError, open_database


def open_repository(settings: Settings | None = None, *, write: bool = True) -> Repository:
    """The studio's database. ``write=False`` (``ls``, ``export``) still migrates a
    writable database, but opens one in a read-only folder without writing anything."""
    settings = settings or get_settings()
    writable = _writable(settings)
    if write and not writable:
        raise DatabaseError(
            f"the data folder {settings.data_dir} is read-only here, and this command writes to it; "
            "`emostudio ls`, `export` and `backup` work on a read-only folder"
        )
    readonly = not write and not writable
    if not readonly:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    arrays = settings.arrays_dir
    engine = open_database(settings.db_url, backup_dir=settings.backups_dir, readonly=readonly, arrays_dir=arrays)
    return Repository(engine, arrays_dir=arrays)


def _writable(settings: Settings) -> bool:
    db = sqlite_file(settings.db_url)
    if db is None:
        return True  # a database server decides for itself
    if not db.exists():
        return True  # a new studio: the database is created (or its folder cannot be, and that error says so)
    return os.access(db.parent, os.W_OK) and os.access(db, os.W_OK)
