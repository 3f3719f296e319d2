"""Engine creation and schema migration.

The schema is owned by the Alembic migrations in ``db/migrations``. Opening a database
brings it to the newest revision only when it is behind, after an automatic backup,
and in one transaction (a failed migration leaves the database as it was). A database
written by a newer emostudio, or one that cannot be written, gives a ``DatabaseError``
with one sentence for people instead of a traceback.

Every engine made here turns the driver's operational failures (full disk, read-only
file, busy too long, lost connection) into ``StorageError`` where they happen, so no
driver exception type ever reaches a service or a page.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from emostudio.core.errors import StudioError
from emostudio.core.paths import ARRAYS_FOLDER, real, sqlite_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Alembic reports every schema check at INFO ("Context impl SQLiteImpl."): noise in the studio's log
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


class DatabaseError(StudioError):
    """The database cannot be used as asked; ``str(err)`` is one sentence for people."""


class StorageError(DatabaseError):
    """The database refused a statement (full disk, read-only file, busy too long, gone),
    in one sentence for people; what they entered is not stored and can be saved again.
    ``reason`` keeps the driver's own first line for the server log."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


def storage_error(reason: str, reading: bool = False) -> StorageError:
    """The sentence for a driver's refusal, from its first line."""
    low = reason.lower()
    if reading:
        return StorageError("the studio's database could not be read just now: try again", reason)
    if "full" in low or "no space" in low or "could not extend" in low:
        return StorageError(
            "the disk holding the studio's database is full: nothing was saved; free some space and save again", reason
        )
    if "readonly" in low or "read-only" in low or "read only" in low:
        return StorageError("the studio's database is read-only on this machine: nothing was saved", reason)
    if "locked" in low or "busy" in low:
        return StorageError("the database stayed busy for too long: nothing was saved; save again", reason)
    return StorageError(
        "the database could not store this: nothing was saved; save again, and if it goes on, "
        "tell the studio's administrator (the server log has the details)",
        reason,
    )


def _raise_storage_error(context) -> None:
    """``handle_error`` listener: an operational failure becomes a ``StorageError``.
    Pre-ping failures are left to the pool, which reconnects."""
    err = context.sqlalchemy_exception
    if context.is_pre_ping or not isinstance(err, OperationalError):
        return
    statement = (context.statement or "").lstrip().upper()
    raise storage_error(_reason(err), reading=statement.startswith(("SELECT", "PRAGMA", "WITH"))) from err


def default_arrays_dir(url: str) -> Path | None:
    """Where chunk-array files go when nobody said: ``arrays`` beside a SQLite file (the
    data folder, by default); None for a database server or an in-memory database."""
    path = sqlite_file(url)
    return None if path is None else real(path).parent / ARRAYS_FOLDER


def alembic_config(url: str, migrations_dir: Path = MIGRATIONS_DIR, arrays_dir: Path | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # migration 0005 moves chunk predictions into files there
    cfg.attributes["arrays_dir"] = arrays_dir or default_arrays_dir(url)
    return cfg


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the UI read while the worker writes; foreign keys are off by default in SQLite.
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_readonly_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def create_db_engine(url: str, readonly: bool = False) -> Engine:
    """An engine for ``url``; ``readonly`` opens a SQLite file without ever writing to
    it or its folder (for ``ls`` and ``export`` on a read-only data folder)."""
    # orjson reads the JSON columns (per-chunk probabilities) several times faster than json:
    # opening a 10-minute clip decodes about 7,000 of them.
    if not is_sqlite(url):
        engine = create_engine(url, pool_pre_ping=True, json_deserializer=orjson.loads)
        event.listen(engine, "handle_error", _raise_storage_error)
        return engine
    path = sqlite_file(url)
    if readonly:
        if path is None:
            raise DatabaseError("an in-memory database cannot be opened read-only")
        if not path.is_file():
            raise DatabaseError(f"there is no database at {path}")
        # A cleanly closed WAL database has no -wal file, and a read-only folder cannot
        # get a -shm file: then nothing can be writing it, and 'immutable' reads it as is.
        wal = Path(f"{path}-wal")
        flags = "mode=ro" if wal.exists() or os.access(path.parent, os.W_OK) else "immutable=1"
        engine = create_engine(f"sqlite:///file:{path}?{flags}&uri=true", json_deserializer=orjson.loads)
        event.listen(engine, "connect", _sqlite_readonly_pragmas)
        event.listen(engine, "handle_error", _raise_storage_error)
        return engine
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, json_deserializer=orjson.loads)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "handle_error", _raise_storage_error)
    return engine


def head_revision(migrations_dir: Path = MIGRATIONS_DIR) -> str:
    return ScriptDirectory(str(migrations_dir)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database (None for an empty database)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as err:
        raise DatabaseError(f"cannot open the database ({_reason(err)})") from None
    except StorageError as err:
        raise DatabaseError(f"cannot open the database ({err.reason})") from None


def _reason(err: DBAPIError) -> str:
    """The driver's own first line, without the SQL SQLAlchemy appends."""
    return str(err.orig).splitlines()[0] if err.orig is not None else type(err).__name__


def upgrade(
    url: str, revision: str = "head", migrations_dir: Path = MIGRATIONS_DIR, arrays_dir: Path | None = None
) -> None:
    command.upgrade(alembic_config(url, migrations_dir, arrays_dir), revision)


def open_database(
    url: str,
    *,
    backup_dir: Path | None = None,
    readonly: bool = False,
    migrations_dir: Path = MIGRATIONS_DIR,
    arrays_dir: Path | None = None,
) -> Engine:
    """Create the engine, migrating the schema first when it is behind.

    Before a migration the database is backed up into ``backup_dir`` (when given and
    the database is not empty). ``readonly`` never migrates nor writes anything.
    """
    engine = create_db_engine(url, readonly=readonly)
    current = current_revision(engine)
    head = head_revision(migrations_dir)
    if current == head:
        return engine
    script = ScriptDirectory(str(migrations_dir))
    if current is not None and current not in {s.revision for s in script.walk_revisions()}:
        raise DatabaseError(
            f"this database was written by a newer version of emostudio (schema {current}; this version knows up "
            f"to {head}): upgrade emostudio, or restore a backup made by this version"
        )
    if readonly:
        raise DatabaseError(
            f"the database is at schema {current or '(empty)'} and needs upgrading to {head}, which needs write "
            "access: run any emostudio command once with write access to the data folder"
        )
    saved = None
    if current is not None and backup_dir is not None:
        from emostudio.db.backup import backup_database

        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        saved = backup_database(engine, Path(backup_dir) / f"emostudio-{current}-before-{head}-{stamp}.db")
    try:
        upgrade(url, migrations_dir=migrations_dir, arrays_dir=arrays_dir)
    except Exception as err:  # noqa: BLE001 - any failure is reported the same way
        engine.dispose()
        where = f"; a copy from before the attempt is at {saved}" if saved else ""
        raise DatabaseError(
            f"migrating the database from schema {current} to {head} failed ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); the migration was rolled back{where}"
        ) from err
    return engine


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
