"""A whole project in one file, and back: ``emostudio archive`` / ``restore-archive``.

The archive is a tar file (gzip-compressed when its name ends in ``.gz``) holding:

- ``database.sqlite``: a consistent snapshot of the database (``db.backup``): media
  records, transcripts and segments, annotations, traces, captions, jobs, model versions,
  clip and segment predictions and the chunk files' records. The studio's user accounts
  and running processes are left out (an archive moves a project, not its sign-ins);
- ``arrays/``: the chunk-output files the snapshot names;
- ``models/<version>/``: the weights and configuration of each trained model version
  (the shipped default comes with emostudio itself);
- ``media/``: with ``--media``, the media files copied into the studio's store;
- ``manifest.json``: the format, the schema revision, the folders the paths were
  relative to, and the SHA-256 of every member, checked before anything is restored.

Restoring needs an empty data folder; paths that pointed into the old data folder
(trained versions, stored media) are moved to the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from emostudio.core.config import Settings
from emostudio.core.errors import StudioError
from emostudio.core.paths import is_inside, real
from emostudio.db.backup import backup_database, restore_database
from emostudio.db.repository import Repository

FORMAT = "emostudio-archive/1"
PACKAGE_DIR = real(Path(__file__).resolve().parents[1])
LEFT_OUT_TABLES = ("users", "processes")


class ArchiveError(StudioError):
    """An archive that cannot be written or restored, in one sentence."""


@dataclass(frozen=True)
class ArchiveSummary:
    media: int
    chunk_files: int
    model_versions: int
    media_files: int

    def __str__(self) -> str:
        return (
            f"{self.media} media, {self.chunk_files} chunk files, {self.model_versions} trained model versions, "
            f"{self.media_files} media files"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def write_archive(repo: Repository, settings: Settings, dest: str | Path, with_media: bool = False) -> ArchiveSummary:
    """Write the project behind ``repo`` to ``dest`` (whole, or not at all)."""
    dest = Path(dest)
    if dest.exists():
        raise ArchiveError(f"{dest} already exists; choose a new file name for the archive")
    with tempfile.TemporaryDirectory(prefix="emostudio-archive-", dir=dest.parent) as tmp:
        snapshot = backup_database(repo.engine, Path(tmp) / "database.sqlite")
        con = sqlite3.connect(snapshot)
        try:
            for table in LEFT_OUT_TABLES:
                con.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            con.commit()
            con.execute("VACUUM")
            arrays = [r[0] for r in con.execute("SELECT DISTINCT path FROM chunk_arrays ORDER BY path")]
            versions = list(con.execute("SELECT id, path FROM model_versions ORDER BY id"))
            media_rows = list(con.execute("SELECT id, path, stored FROM media ORDER BY id"))
            revision = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        finally:
            con.close()
        members: list[tuple[str, Path]] = [("database.sqlite", snapshot)]
        for rel in arrays:
            members.append((f"arrays/{rel}", settings.arrays_dir / rel))
        trained = [
            (vid, real(p)) for vid, p in versions if Path(p).is_dir() and is_inside(real(p), real(settings.models_dir))
        ]
        for vid, folder in trained:
            for f in sorted(folder.rglob("*")):
                if f.is_file():
                    members.append((f"models/{vid}/{f.relative_to(folder).as_posix()}", f))
        stored = [
            Path(p) for _, p, is_stored in media_rows if is_stored and is_inside(real(p), real(settings.media_dir))
        ]
        if with_media:
            members += [(f"media/{p.relative_to(settings.media_dir).as_posix()}", p) for p in stored if p.is_file()]
        missing = [name for name, path in members if not path.is_file()]
        if missing:
            raise ArchiveError(f"the archive cannot be made: {missing[0]} is missing from the data folder")
        manifest = {
            "format": FORMAT,
            "schema": revision,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "data_dir": str(real(settings.data_dir)),
            "models_dir": str(real(settings.models_dir)),
            "media_dir": str(real(settings.media_dir)),
            "package_dir": str(PACKAGE_DIR),
            "media": len(media_rows),
            "files": {name: _sha256(path) for name, path in members},
        }
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=1))
        part = dest.with_name(dest.name + ".part")
        try:
            with tarfile.open(part, "w:gz" if dest.name.endswith(".gz") else "w") as tar:
                tar.add(Path(tmp) / "manifest.json", arcname="manifest.json")
                for name, path in members:
                    tar.add(path, arcname=name)
            os.replace(part, dest)
        except OSError as err:
            part.unlink(missing_ok=True)
            raise ArchiveError(
                f"{dest}: the archive could not be written ({err.strerror or err}); nothing was left"
            ) from None
    return ArchiveSummary(len(media_rows), len(arrays), len(trained), sum(n.startswith("media/") for n, _ in members))


def restore_archive(source: str | Path, settings: Settings) -> ArchiveSummary:
    """Restore an archive into ``settings``' data folder, which must hold no project yet."""
    source = Path(source)
    _require_empty(settings)
    with tempfile.TemporaryDirectory(prefix="emostudio-restore-") as tmp:
        root = Path(tmp)
        try:
            with tarfile.open(source) as tar:
                tar.extractall(root, filter="data")  # no absolute paths, links or ".." out of ``root``
            manifest = json.loads((root / "manifest.json").read_text())
        except (OSError, tarfile.TarError, ValueError, KeyError) as err:
            raise ArchiveError(f"{source.name}: not an emostudio archive ({type(err).__name__})") from None
        if manifest.get("format") != FORMAT:
            raise ArchiveError(f"{source.name}: not an emostudio archive of a format this version reads")
        for name, digest in manifest["files"].items():
            path = root / name
            if not path.is_file() or _sha256(path) != digest:
                raise ArchiveError(f"{source.name}: {name} is damaged or missing; nothing was restored")
        for folder, target in (
            ("arrays", settings.arrays_dir),
            ("models", settings.models_dir),
            ("media", settings.media_dir),
        ):
            if (root / folder).is_dir():
                shutil.copytree(root / folder, target, dirs_exist_ok=True)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        restore_database(settings.db_url, root / "database.sqlite", settings.backups_dir, settings.arrays_dir)
    from emostudio.services.store import open_repository

    repo = open_repository(settings)
    files = manifest["files"]
    moves = {
        manifest["models_dir"]: str(real(settings.models_dir)),
        manifest["package_dir"]: str(PACKAGE_DIR),  # the shipped default, where this emostudio is
    }
    if any(n.startswith("media/") for n in files):  # stored media came along: they are in the new store
        moves[manifest["media_dir"]] = str(real(settings.media_dir))
    try:
        repo.move_paths(moves)
    finally:
        repo.engine.dispose()
    return ArchiveSummary(
        manifest["media"],
        sum(n.startswith("arrays/") for n in files),
        len({n.split("/")[1] for n in files if n.startswith("models/")}),
        sum(n.startswith("media/") for n in files),
    )


def _require_empty(settings: Settings) -> None:
    from emostudio.services.store import open_repository

    if settings.arrays_dir.is_dir() and any(settings.arrays_dir.iterdir()):
        raise ArchiveError(f"{settings.data_dir} already holds a project: restore an archive into an empty data folder")
    repo = open_repository(settings)
    try:
        _, total = repo.media_page(None, limit=1)
        if total or repo.list_model_versions(kind=None):
            raise ArchiveError(
                f"{settings.data_dir} already holds a project: restore an archive into an empty data folder"
            )
    finally:
        repo.engine.dispose()
