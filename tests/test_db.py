"""Migrations (transactional, backed up first, refused from the future), backups and
restores while the studio runs, a read-only data folder, SQLite settings, PostgreSQL,
and the append-only annotation store."""

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, inspect, text
from sqlalchemy.exc import IntegrityError

from emostudio.core.domain import Annotation
from emostudio.db.models import Base, MediaRow
from emostudio.db.repository import Repository
from emostudio.db.session import (
    DatabaseError,
    StorageError,
    create_db_engine,
    current_revision,
    head_revision,
    open_database,
    upgrade,
)
from emostudio.services.ingest import ImportOptions, import_paths
from emostudio.testing import StudioProcess, signed_in_client, speech, write_audio

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cli(data_dir, *args, env=None):
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "emostudio.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )


def _annotated(repo, tmp_path, n=1):
    (media,) = import_paths(
        repo, [write_audio(tmp_path / "a.wav", speech(1.0))], options=ImportOptions(vad=False)
    ).added
    for _i in range(n):
        repo.add_annotation(Annotation(None, media.id, "human", "ana", label="anger", start=0.0, duration=0.5))
    return media


def test_upgrade_from_empty_to_head_matches_the_models(db_url):
    url = db_url
    upgrade(url)
    engine = create_db_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {
        "media",
        "media_files",
        "segments",
        "feature_cache",
        "predictions",
        "annotations",
        "captions",
        "jobs",
        "model_versions",
        "alembic_version",
    } <= tables
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    upgrade(url)  # idempotent


def test_sqlite_runs_in_wal_mode_with_foreign_keys(repo):
    with repo.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_annotations_are_appended_and_protect_their_media(any_repo, tmp_path):
    repo = any_repo
    media = import_paths(repo, [write_audio(tmp_path / "a.wav", speech())]).added[0]
    first = repo.add_annotation(Annotation(id=None, media_id=media.id, source="human", annotator="ana", label="anger"))
    second = repo.add_annotation(
        Annotation(id=None, media_id=media.id, source="human", annotator="ana", label="sadness")
    )
    assert [a.label for a in repo.annotations(media.id)] == ["anger", "sadness"]
    assert second.id > first.id and second.created_at >= first.created_at
    with repo.session() as s, pytest.raises(IntegrityError):  # deleting annotated media must fail
        s.execute(delete(MediaRow).where(MediaRow.id == media.id))
        s.commit()
    assert repo.get_media(media.id) is not None


def test_a_refused_write_reaches_the_caller_as_one_sentence_not_a_driver_error(repo, tmp_path):
    media = import_paths(repo, [write_audio(tmp_path / "a.wav", speech())]).added[0]
    readonly = Repository(create_db_engine(str(repo.engine.url), readonly=True))
    note = Annotation(id=None, media_id=media.id, source="human", annotator="ana", label="anger")
    with pytest.raises(StorageError) as err:
        readonly.add_annotation(note)
    assert str(err.value) == "the studio's database is read-only on this machine: nothing was saved"
    assert "readonly" in err.value.reason  # the driver's words are kept for the server log
    assert readonly.annotations(media.id) == []  # reads go on


def test_a_migration_backs_the_database_up_first_and_keeps_every_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")  # a database from the first release
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute(
        "INSERT INTO media (id, content_hash, path, name, size_bytes, stored, status, container, duration, "
        "has_audio, has_video, created_at) VALUES ('m1', 'h', '/x.wav', 'x.wav', 5000000000, 0, 'imported', "
        "'wav', 1.0, 1, 0, '2026-01-01')"
    )
    con.execute(
        "INSERT INTO annotations (media_id, source, annotator, label, created_at) "
        "VALUES ('m1', 'human', 'ana', 'anger', '2026-01-01')"
    )
    for line in (2, 9):  # the same imported label twice (the old release could store it twice)
        con.execute(
            "INSERT INTO annotations (media_id, source, annotator, label, raw_label, origin, created_at) "
            f"VALUES ('m1', 'import', 'import:l.csv', 'fear', 'fearful', 'l.csv:{line}', '2026-01-01')"
        )
    con.commit()
    con.close()
    repo = Repository(open_database(url, backup_dir=tmp_path / "backups"))
    assert current_revision(repo.engine) == head_revision()
    assert [a.label for a in repo.annotations()] == ["anger", "fear", "fear"]
    assert repo.get_media("m1").size_bytes == 5_000_000_000  # a 5 GB video fits now (64-bit sizes)
    again = Annotation(None, "m1", "import", "import:l.csv", label="fear", raw_label="fearful", origin="l.csv:2")
    assert repo.import_annotation(again) is False  # importing the old label file again adds nothing
    (backup,) = (tmp_path / "backups").iterdir()
    assert backup.name.startswith("emostudio-0001-before-")
    old = sqlite3.connect(backup)
    assert old.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"
    assert old.execute("SELECT label FROM annotations").fetchall() == [("anger",), ("fear",), ("fear",)]


def test_a_failing_migration_is_rolled_back_and_the_database_still_works(tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(REPO_ROOT / "db" / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__"))
    head = head_revision()
    (migrations / "versions" / "9001_broken.py").write_text(f"""
import sqlalchemy as sa
from alembic import op

revision, down_revision, branch_labels, depends_on = "9001", "{head}", None, None


def upgrade():
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("extra", sa.Integer))
    op.execute("INSERT INTO no_such_table VALUES (1)")


def downgrade():
    pass
""")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    repo = Repository(open_database(url))
    media = _annotated(repo, tmp_path, n=3)
    repo.engine.dispose()
    with pytest.raises(DatabaseError) as err:
        open_database(url, backup_dir=tmp_path / "backups", migrations_dir=migrations)
    message = str(err.value)
    assert f"from schema {head} to 9001 failed" in message and "rolled back" in message and "backups" in message
    assert "\n" not in message
    con = sqlite3.connect(tmp_path / "x.db")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    columns = {r[1] for r in con.execute("PRAGMA table_info(annotations)")}
    assert "half_done" not in tables and "extra" not in columns  # nothing of the failed migration stayed
    repo = Repository(open_database(url))  # the current version still opens it, with everything in it
    assert current_revision(repo.engine) == head and len(repo.annotations(media.id)) == 3


def test_a_database_from_a_newer_version_gets_a_sentence_not_a_traceback(tmp_path):
    data = tmp_path / "data"
    assert _cli(data, "ls").returncode == 0
    con = sqlite3.connect(data / "emostudio.db")
    con.execute("UPDATE alembic_version SET version_num = '9999'")
    con.commit()
    con.close()
    for command in (["ls"], ["export", "--annotations", str(tmp_path / "a.csv")], ["serve"]):
        out = _cli(data, *command)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        (line,) = out.stderr.strip().splitlines()
        assert line.startswith("error: this database was written by a newer version of emostudio (schema 9999")


def test_backup_while_the_studio_writes_then_restore(tmp_path):
    """`emostudio backup` runs while 4 clients save through the studio: the backup is
    consistent, and `restore` (with the studio stopped) brings back exactly what it holds,
    after backing up what was there."""
    data = tmp_path / "data"
    folder = tmp_path / "in"
    folder.mkdir()
    write_audio(folder / "a.wav", speech(2.0))
    assert _cli(data, "import", str(folder), "--no-vad").returncode == 0
    with StudioProcess(data, worker=False) as studio:
        media_id = signed_in_client(studio.url).get("api/media").json()[0]["id"]
        stop = threading.Event()

        def save(k):
            client = signed_in_client(studio.url)
            while not stop.is_set():
                body = {"media_id": media_id, "start": 0.0, "end": 1.0, "label": "fear", "annotator": f"c{k}"}
                assert client.post("api/annotations", json=body).status_code == 201

        clients = [threading.Thread(target=save, args=(k,)) for k in range(4)]
        for c in clients:
            c.start()
        out = _cli(data, "backup", str(tmp_path / "snap.db"))
        stop.set()
        for c in clients:
            c.join()
    assert out.returncode == 0, out.stderr
    snap = sqlite3.connect(tmp_path / "snap.db")
    assert snap.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    in_backup = snap.execute("SELECT count(*) FROM annotations").fetchone()[0]
    live = sqlite3.connect(data / "emostudio.db").execute("SELECT count(*) FROM annotations").fetchone()[0]
    assert 0 < in_backup <= live
    assert _cli(data, "backup", str(tmp_path / "snap.db")).returncode == 2  # never overwrites a file

    restored = _cli(data, "restore", str(tmp_path / "snap.db"))
    assert restored.returncode == 0, restored.stderr
    assert sqlite3.connect(data / "emostudio.db").execute("SELECT count(*) FROM annotations").fetchone()[0] == in_backup
    (safety,) = (data / "backups").glob("emostudio-before-restore-*.db")
    assert sqlite3.connect(safety).execute("SELECT count(*) FROM annotations").fetchone()[0] == live


def test_restore_refuses_while_the_studio_runs(tmp_path):
    data = tmp_path / "data"
    assert _cli(data, "backup", str(tmp_path / "b.db")).returncode == 0
    with StudioProcess(data, worker=False):
        out = _cli(data, "restore", str(tmp_path / "b.db"))
    assert out.returncode == 2 and out.stderr.startswith("error: stop the studio first: server ")


def test_backup_and_restore_on_postgresql(tmp_path):
    from conftest import _postgres_database

    url, drop = _postgres_database()
    try:
        repo = Repository(open_database(url))
        media = _annotated(repo, tmp_path, n=2)
        repo.enqueue_job("analyze")
        from emostudio.db.backup import backup_database, restore_database

        backup_database(repo.engine, tmp_path / "pg.db")
        assert sqlite3.connect(tmp_path / "pg.db").execute("SELECT count(*) FROM annotations").fetchone()[0] == 2
        repo.add_annotation(Annotation(None, media.id, "human", "bob", label="fear"))
        repo.engine.dispose()
        restore_database(url, tmp_path / "pg.db", tmp_path / "backups")
        repo = Repository(open_database(url))
        assert [a.annotator for a in repo.annotations()] == ["ana", "ana"]
        added = repo.add_annotation(Annotation(None, media.id, "human", "cy", label="sadness"))  # ids go on
        assert added.id == 3 and len(repo.list_jobs()) == 1
        repo.engine.dispose()
    finally:
        drop()


def test_read_only_commands_work_on_a_read_only_data_folder(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    data = tmp_path / "data"
    folder = tmp_path / "in"
    folder.mkdir()
    write_audio(folder / "a.wav", speech(1.0))
    assert _cli(data, "import", str(folder), "--no-vad").returncode == 0
    out_csv = tmp_path / "out" / "a.csv"
    out_csv.parent.mkdir()
    emostudio = f"{sys.executable} -m emostudio.cli"
    script = (
        f"mount --bind {data} {data} && mount -o remount,bind,ro {data} && "
        f"{emostudio} ls && {emostudio} export --annotations {out_csv} && "
        f"{emostudio} users list; echo import-exit $({emostudio} import {folder} 2>&1 | tail -1)"
    )
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data)}
    run = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    if "Operation not permitted" in run.stderr and "unshare" in run.stderr:
        pytest.skip(f"no user namespaces here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    assert "a.wav" in run.stdout and "1 media" in run.stdout and out_csv.exists()
    assert "Traceback" not in run.stdout + run.stderr
    assert "import-exit error: the data folder " in run.stdout and "is read-only here" in run.stdout
