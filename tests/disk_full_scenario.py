"""Run by ``test_disk_full.py`` inside its own mount namespace, on a small tmpfs that this
script fills up: what the studio does when the disk is full. Prints one JSON object."""

from __future__ import annotations

import errno
import json
import sqlite3
import sys
from pathlib import Path

from emostudio.core.config import Settings
from emostudio.core.errors import StudioError
from emostudio.services.annotate import save_correction
from emostudio.services.export import export_table, write_csv
from emostudio.services.ingest import ImportOptions, import_paths
from emostudio.services.store import open_repository
from emostudio.testing import speech, write_audio


def fill(folder: Path) -> Path:
    """Write a filler file until the disk is full."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as f:
        for size in (65536, 1):  # big blocks, then the last bytes one by one
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as err:
                assert err.errno == errno.ENOSPC
    return filler


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".tmp"))


def main(disk: Path, outside: Path) -> dict:
    settings = Settings(data_dir=disk / "data")
    repo = open_repository(settings)
    first = write_audio(outside / "first.wav", speech(1.0))
    (media,) = import_paths(
        repo, [first], options=ImportOptions(copy=True, media_dir=settings.media_dir, vad=False)
    ).added
    save_correction(repo, media, "ana", 0.0, 0.5, "anger")
    big = write_audio(outside / "big.wav", speech(30.0))
    filler = fill(disk)
    out: dict = {}
    try:
        save_correction(repo, media, "ana", 0.5, 1.0, "fear")
        out["save"] = "stored"
    except StudioError as err:
        out["save"] = str(err)
    report = import_paths(repo, [big], options=ImportOptions(copy=True, media_dir=settings.media_dir, vad=False))
    out["import"] = report.stopped or "; ".join(report.errors) or "imported"
    try:
        write_csv(disk / "export.csv", *reversed(export_table(repo, "annotations")))
        out["export"] = "written"
    except OSError as err:
        out["export"] = f"OSError: {err.strerror}"
    out["export_file_left"] = (disk / "export.csv").exists()
    from emostudio.db.backup import backup_database

    try:
        backup_database(repo.engine, disk / "backup.db")
        out["backup"] = "written"
    except StudioError as err:
        out["backup"] = str(err)
    out["backup_file_left"] = (disk / "backup.db").exists() or (disk / "backup.db.part").exists()
    out["partial_files"] = leftovers(disk)
    filler.unlink()
    save_correction(repo, media, "ana", 0.5, 1.0, "fear")  # with room again, the same save goes through
    out["annotations_after"] = [a.label for a in repo.annotations(source="human")]
    out["integrity"] = (
        sqlite3.connect(settings.data_dir / "emostudio.db").execute("PRAGMA integrity_check").fetchone()[0]
    )
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
