"""The whole-project archive: ``restore-archive`` into an empty data folder brings back
every row of every table (user accounts aside), every chunk file and every trained
version's weights, byte for byte, with paths moved to the new folder; a damaged archive
or a data folder that holds a project is refused in one sentence."""

from __future__ import annotations

import io
import shutil
import sqlite3
import tarfile
from pathlib import Path

import numpy as np
import pytest

from emostudio.core.config import Settings
from emostudio.core.domain import Annotation, ModelVersion, Trace
from emostudio.services.analysis import Analyzer, analyze_stored
from emostudio.services.annotate import save_caption
from emostudio.services.archive import ArchiveError, restore_archive, write_archive
from emostudio.services.ingest import ImportOptions, import_paths
from emostudio.services.store import open_repository
from emostudio.services.versions import active_version
from emostudio.testing import speech, write_audio


def _rows(db: Path, table: str, moves: dict[str, str] | None = None) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        columns = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        rows = con.execute(f"SELECT * FROM {table} ORDER BY {columns[0]}").fetchall()  # noqa: S608
    finally:
        con.close()
    if not moves:
        return rows
    out = []
    for row in rows:
        fixed = []
        for v in row:
            for old, new in moves.items():
                if isinstance(v, str) and v.startswith(old + "/"):
                    v = new + v[len(old) :]
            fixed.append(v)
        out.append(tuple(fixed))
    return out


def test_an_archive_restores_into_an_empty_data_folder_exactly(tmp_path):
    old = Settings(data_dir=tmp_path / "old")
    repo = open_repository(old)
    (tmp_path / "in").mkdir()
    files = [write_audio(tmp_path / "in" / f"talk{k}.wav", speech(3.0 + k)) for k in range(2)]
    added = import_paths(repo, files, options=ImportOptions(copy=True, media_dir=old.media_dir)).added  # stored
    active_version(repo)
    analyzer = Analyzer.load()
    for media in added:
        analyze_stored(repo, analyzer, media)
    media = added[0]
    repo.add_annotation(Annotation(None, media.id, "human", "ana", label="anger", start=0.2, duration=1.0))
    repo.add_trace(Trace(None, media.id, "ana", "valence", 0.0, 10.0, (0.1, None, -0.2)))
    caption = repo.captions(media.id)[0]
    save_caption(repo, media, "ana", "Calm and slow.", previous=caption)
    trained = old.models_dir / "finetune-job1"  # a trained version: its own weights in the data folder
    shutil.copytree(Path(repo.active_model_version().path), trained)
    repo.add_model_version(
        ModelVersion("finetune-job1", "emotion", str(trained), parent_id=repo.active_model_version().id)
    )
    analyze_stored(repo, Analyzer.load(trained, version_id="finetune-job1"), added[1])
    repo.engine.dispose()

    archive = tmp_path / "project.tar.gz"
    summary = write_archive(open_repository(old), old, archive, with_media=True)
    assert (summary.media, summary.model_versions, summary.media_files) == (2, 1, 2) and summary.chunk_files == 3

    new = Settings(data_dir=tmp_path / "new")
    restored = restore_archive(archive, new)
    assert (restored.media, restored.chunk_files, restored.model_versions, restored.media_files) == (2, 3, 1, 2)
    moves = {
        str(old.models_dir.resolve()): str(new.models_dir.resolve()),
        str(old.media_dir.resolve()): str(new.media_dir.resolve()),
    }
    con = sqlite3.connect(old.data_dir / "emostudio.db")
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    con.close()
    compared, counts = 0, {}
    for table in tables:
        if table in ("users", "processes"):
            continue
        before = _rows(old.data_dir / "emostudio.db", table, moves)
        after = _rows(new.data_dir / "emostudio.db", table)
        assert after == before, table
        compared += len(before)
        counts[table] = len(before)
    assert all(
        counts[t] for t in ("media", "segments", "predictions", "chunk_arrays", "annotations", "captions", "traces")
    )
    assert counts["model_versions"] == 2 and compared > 20
    for f in old.arrays_dir.rglob("*.safetensors"):
        assert (new.arrays_dir / f.relative_to(old.arrays_dir)).read_bytes() == f.read_bytes()
    for f in trained.rglob("*"):
        if f.is_file():
            assert (new.models_dir / "finetune-job1" / f.relative_to(trained)).read_bytes() == f.read_bytes()
    again = open_repository(new)  # and the restored studio reads it: the stored media and its curves
    series = again.chunk_series(added[1].id, "finetune-job1")
    assert series is not None and len(series) and Path(again.get_media(media.id).path).is_file()
    assert np.array_equal(series.basic, open_repository(old).chunk_series(added[1].id, "finetune-job1").basic)
    assert again.get_model_version("finetune-job1").path == str(new.models_dir.resolve() / "finetune-job1")


def test_a_damaged_archive_or_a_folder_holding_a_project_is_refused(tmp_path):
    old = Settings(data_dir=tmp_path / "old")
    repo = open_repository(old)
    import_paths(repo, [write_audio(tmp_path / "a.wav", speech(1.0))])
    archive = tmp_path / "p.tar"
    write_archive(repo, old, archive)
    with pytest.raises(ArchiveError, match="already holds a project"):
        restore_archive(archive, old)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "database.sqlite":  # one flipped byte
                data = data[:200] + bytes([data[200] ^ 0xFF]) + data[201:]
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(
        ArchiveError, match=r"^damaged\.tar: database\.sqlite is damaged or missing; nothing was restored$"
    ):
        restore_archive(damaged, Settings(data_dir=tmp_path / "new"))
    assert not (tmp_path / "new" / "arrays").exists() or not any((tmp_path / "new" / "arrays").iterdir())


def test_the_archive_commands_move_a_project_to_another_data_folder(tmp_path):
    import os
    import subprocess
    import sys

    def cli(data, *args):
        env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data)}
        return subprocess.run([sys.executable, "-m", "emostudio.cli", *args], env=env, capture_output=True, text=True)

    path = write_audio(tmp_path / "hello.wav", speech(2.0))
    assert cli(tmp_path / "a", "import", str(path)).returncode == 0
    made = cli(tmp_path / "a", "archive", str(tmp_path / "p.tar"))
    assert made.returncode == 0 and "1 media" in made.stdout
    back = cli(tmp_path / "b", "restore-archive", str(tmp_path / "p.tar"))
    assert back.returncode == 0 and "restored" in back.stdout
    assert "hello.wav" in cli(tmp_path / "b", "ls").stdout
    again = cli(tmp_path / "b", "restore-archive", str(tmp_path / "p.tar"))
    assert (
        again.returncode == 2
        and again.stderr.strip().startswith("error: ")
        and "already holds a project" in again.stderr
    )
    assert len(again.stderr.strip().splitlines()) == 1
