"""Open the studio's repository from settings (creating the data dir and migrating)."""

from __future__ import annotations

import os

from db.repository import Repository
from db.session import open_database, sqlite_file
from emostudio.config import Settings, get_settings


def open_repository(settings: Settings | None = None, *, write: bool = True) -> Repository:
    """The studio's database. ``write=False`` (``ls``, ``export``) still migrates a
    writable database, but opens one in a read-only folder without writing anything."""
    settings = settings or get_settings()
    readonly = not write and not _writable(settings)
    if not readonly:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Repository(open_database(settings.db_url, backup_dir=settings.backups_dir, readonly=readonly))


def _writable(settings: Settings) -> bool:
    db = sqlite_file(settings.db_url)
    if db is None:
        return True  # a database server decides for itself
    folder = db.parent
    return folder.is_dir() and os.access(folder, os.W_OK) and (not db.exists() or os.access(db, os.W_OK))
