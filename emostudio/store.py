"""Open the studio's repository from settings (creating the data dir and migrating)."""

from __future__ import annotations

from db.repository import Repository
from db.session import open_database
from emostudio.config import Settings, get_settings


def open_repository(settings: Settings | None = None) -> Repository:
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Repository(open_database(settings.db_url))
