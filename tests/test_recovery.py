"""Crashes and load, with the studio run as users run it (`emostudio serve` in its own
process): a killed worker is restarted and its job finished, a killed server loses no
acknowledged save and leaves nothing stuck, concurrent clients all get their saves
stored. The scenarios are those of ``bench/robustness.py``, smaller; their figures go to
``test-artifacts/recovery.json``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bench import robustness
from emostudio.db.models import ProcessRow
from emostudio.services.health import worker_status

ARTIFACTS = Path(os.environ.get("EMOSTUDIO_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
FIGURES: dict = {}


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "recovery.json").write_text(json.dumps(FIGURES, indent=2))


@pytest.fixture
def backend(db_url, monkeypatch):
    """Run the studio's processes on SQLite, and again on PostgreSQL."""
    if db_url.startswith("postgresql"):
        monkeypatch.setenv("EMOSTUDIO_DATABASE_URL", db_url)
    return db_url.split(":")[0].split("+")[0]


def test_a_killed_worker_is_restarted_and_its_job_finished(tmp_path, backend):
    out = robustness.kill_worker_mid_job(tmp_path, n_media=3, seconds=10.0)
    FIGURES[f"kill_worker_mid_job[{backend}]"] = out
    assert out["job_status"] == "succeeded" and out["attempts"] == 1
    assert out["media_analysed"] == 3 and out["media_stuck_analysing"] == 0
    assert out["new_worker_alive"] and out["killed_worker_reaped"] and out["resumed_after_s"] < 60
    assert out["killed_worker_marked_stopped"]  # never listed as a live worker once reaped


def test_a_killed_server_keeps_every_acknowledged_save(tmp_path):
    out = robustness.kill_server_mid_save(tmp_path, clients=4, seconds=2.0)
    FIGURES["kill_server_mid_save"] = out
    assert out["acknowledged"] > 50 and out["lost"] == 0


def test_a_killed_server_leaves_no_job_or_media_stuck(tmp_path):
    out = robustness.kill_server_mid_job(tmp_path, n_media=2, seconds=10.0)
    FIGURES["kill_server_mid_job"] = out
    assert out["jobs_stuck"] == 0 and out["media_stuck_analysing"] == 0 and out["media_analysed"] == 2


def test_signed_in_clients_saving_at_once_all_get_stored(tmp_path, backend):
    out = robustness.load(tmp_path, clients=6, saves=20, analyse=1)
    FIGURES[f"load[{backend}]"] = out
    assert (out["stored"], out["failures"]) == (120, 0)


def test_the_train_page_says_whether_a_worker_is_alive(repo):
    assert worker_status(repo, 30).startswith("**No worker is running**")
    repo.enqueue_job("analyze")
    assert ": 1 queued job wait" in worker_status(repo, 30)
    repo.register_process("host:1", "worker", "host", 1)
    repo.heartbeat("host:1", job_id=None)
    assert worker_status(repo, 30).startswith("Worker **host:1**: alive (heartbeat 0 s ago), idle.")
    with repo.writing() as s:  # silent for five minutes: no longer counted as alive
        s.execute(update(ProcessRow).values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5)))
    assert worker_status(repo, 30).startswith("**No worker is running**")
