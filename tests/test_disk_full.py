"""A full disk stops work cleanly: plain messages, no partial file, nothing stored lost,
and the same save goes through once there is room again. Runs on a real full disk: a
small tmpfs mounted in a private mount namespace (``unshare``), filled up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_a_full_disk_stops_saves_imports_exports_and_backups_cleanly(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    disk, outside = tmp_path / "disk", tmp_path / "outside"
    disk.mkdir()
    outside.mkdir()
    script = (
        f"mount -t tmpfs -o size=6m tmpfs {disk} && "
        f"exec {sys.executable} {REPO_ROOT / 'tests' / 'disk_full_scenario.py'} {disk} {outside}"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if run.returncode != 0 and "unshare" in run.stderr and "Operation not permitted" in run.stderr:
        pytest.skip(f"no user namespaces here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["save"].startswith("the disk holding the studio's database is full: nothing was saved")
    assert out["import"].startswith("the disk is full: nothing of") and "big.wav" in out["import"]
    assert out["export"] == "OSError: No space left on device" and not out["export_file_left"]
    assert "the backup to" in out["backup"] and "no file was left behind" in out["backup"]
    assert not out["backup_file_left"] and out["partial_files"] == []
    assert out["annotations_after"] == ["anger", "fear"] and out["integrity"] == "ok"
