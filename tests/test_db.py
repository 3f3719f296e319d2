"""Migrations, SQLite settings and the append-only annotation store."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, inspect, text
from sqlalchemy.exc import IntegrityError

from db.models import Base, MediaRow
from db.session import create_db_engine, upgrade
from emostudio.domain import Annotation
from emostudio.ingest import import_paths
from emostudio.testing import speech, write_audio


def test_upgrade_from_empty_to_head_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = create_db_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"media", "media_files", "segments", "feature_cache", "predictions", "annotations", "captions", "jobs", "model_versions", "alembic_version"} <= tables
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    upgrade(url)  # idempotent


def test_sqlite_runs_in_wal_mode_with_foreign_keys(repo):
    with repo.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_annotations_are_appended_and_protect_their_media(repo, tmp_path):
    media = import_paths(repo, [write_audio(tmp_path / "a.wav", speech())]).added[0]
    first = repo.add_annotation(Annotation(id=None, media_id=media.id, source="human", annotator="ana", label="anger"))
    second = repo.add_annotation(Annotation(id=None, media_id=media.id, source="human", annotator="ana", label="sadness"))
    assert [a.label for a in repo.annotations(media.id)] == ["anger", "sadness"]
    assert second.id > first.id and second.created_at >= first.created_at
    with repo.session() as s, pytest.raises(IntegrityError):  # deleting annotated media must fail
        s.execute(delete(MediaRow).where(MediaRow.id == media.id))
        s.commit()
    assert repo.get_media(media.id) is not None


def test_the_code_is_ruff_clean():
    """The project's lint rules (pyproject.toml [tool.ruff]) hold on every file."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
