"""Backups and restores that are consistent while the studio runs.

A backup is always one SQLite file. From SQLite it is made with SQLite's online
backup API (a consistent snapshot even while the server and worker write); from
PostgreSQL every table is copied, inside one repeatable-read transaction, into a
SQLite file with the same schema. Restoring copies such a file back, after a safety
backup of what is there now, and migrates it to this version's schema.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import Connection, Engine, Integer, MetaData, create_engine, func, insert, select, text

from emostudio.db.session import DatabaseError, alembic_config, create_db_engine, head_revision, open_database

BATCH = 5_000


def backup_database(engine: Engine, dest: str | Path) -> Path:
    """Write a consistent copy of the database behind ``engine`` to the SQLite file ``dest``.

    The copy is written beside ``dest`` and renamed into place, so ``dest`` is either
    a whole backup or absent (a full disk leaves no partial file behind).
    """
    dest = Path(dest)
    if dest.exists():
        raise DatabaseError(f"{dest} already exists; choose a new file name for the backup")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    try:
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()
            try:
                target = sqlite3.connect(part)
                try:
                    raw.driver_connection.backup(target)
                    # a backup is one self-contained file: no WAL beside it
                    target.execute("PRAGMA journal_mode=DELETE")
                finally:
                    target.close()
            finally:
                raw.close()
        else:
            from emostudio.db.session import current_revision

            command.upgrade(alembic_config(f"sqlite:///{part}"), current_revision(engine) or "base")
            target = create_engine(f"sqlite:///{part}")
            with target.begin() as dst:
                _copy_tables(engine, dst, snapshot=True)
            target.dispose()
        os.replace(part, dest)
    except (OSError, sqlite3.Error) as err:
        part.unlink(missing_ok=True)
        raise DatabaseError(f"the backup to {dest} failed ({err}); no file was left behind") from None
    return dest


def backup_revision(path: str | Path) -> str | None:
    """Check that ``path`` is a readable, intact emostudio backup and return its schema revision."""
    path = Path(path)
    if not path.is_file():
        raise DatabaseError(f"{path}: no such backup file")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise DatabaseError(f"{path}: the backup is damaged (SQLite integrity check failed)")
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise DatabaseError(f"{path}: not an emostudio backup ({err})") from None
    return row[0] if row else None


def restore_database(url: str, source: str | Path, backup_dir: Path, arrays_dir: Path | None = None) -> Path | None:
    """Replace the database at ``url`` with the backup ``source``; returns the safety
    backup made of the current database first (None when it was empty). ``arrays_dir``:
    where bringing an older backup up to date puts chunk-level outputs (migration 0005)."""
    revision = backup_revision(source)
    known = {s.revision for s in _script(url).walk_revisions()}
    if revision not in known:
        raise DatabaseError(f"{source}: made by a newer version of emostudio (schema {revision}); upgrade first")
    engine = create_db_engine(url)
    safety = None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    if _has_tables(engine):
        safety = backup_database(engine, Path(backup_dir) / f"emostudio-before-restore-{stamp}.db")
    if engine.dialect.name == "sqlite":
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        raw = engine.raw_connection()
        try:
            src.backup(raw.driver_connection)
        finally:
            raw.close()
            src.close()
    else:
        # one transaction (PostgreSQL's DDL is transactional): empty the database (its data is
        # in the safety backup), rebuild the backup's schema, copy its rows; all or nothing
        src = create_engine(f"sqlite:///file:{source}?mode=ro&uri=true")
        with engine.begin() as conn:
            current = MetaData()
            current.reflect(conn)
            current.drop_all(conn)
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            _copy_tables(src, conn, snapshot=False)
        src.dispose()
    engine.dispose()
    open_database(url, arrays_dir=arrays_dir)  # bring an older backup to this version's schema
    return safety


def _script(url: str):
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url))


def _has_tables(engine: Engine) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(engine).get_table_names())


def _copy_tables(source: Engine, dst: Connection, snapshot: bool) -> None:
    """Copy every row of ``source`` into the same-named tables behind ``dst`` (a connection in
    a transaction), whose schema (made by the same migrations, at the same revision) must
    already exist and be empty."""
    src_meta, dst_meta = MetaData(), MetaData()
    dst_meta.reflect(dst)
    with source.connect() as src:
        if snapshot and source.dialect.name == "postgresql":
            src.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        src_meta.reflect(src)
        for table in src_meta.sorted_tables:
            if table.name == "alembic_version" or table.name not in dst_meta.tables:
                continue
            into = dst_meta.tables[table.name]
            columns = [c for c in table.c if c.name in into.c]
            rows = src.execute(select(*columns)).mappings()
            while batch := rows.fetchmany(BATCH):
                dst.execute(insert(into), [dict(r) for r in batch])
    if dst.dialect.name == "postgresql":  # ids were copied: move the sequences past them
        for table in dst_meta.sorted_tables:
            if "id" in table.c and isinstance(table.c.id.type, Integer):
                top = dst.execute(select(func.max(table.c.id))).scalar()
                if top:
                    dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), {int(top)})"))


__all__ = ["backup_database", "backup_revision", "restore_database", "head_revision"]
