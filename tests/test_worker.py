"""The job queue the UI and the worker share."""

import os

import pytest

from emostudio.trainers import worker


@pytest.fixture
def repo(any_repo):
    """Every queue test runs on SQLite and on PostgreSQL."""
    return any_repo


@pytest.fixture
def handlers(monkeypatch):
    table = {}
    monkeypatch.setattr(worker, "JOB_HANDLERS", table)
    return table


def test_worker_runs_a_job_and_records_progress_and_metrics(repo, handlers):
    def train(repo_, job, hook):
        for step in range(1, 4):
            hook("train", completed=step, total=3, metrics={"loss": 1.0 / step}, message=f"step {step}")
        return None

    handlers["demo"] = train
    queued = repo.enqueue_job("demo", {"epochs": 3})
    done = worker.run_once(repo, "w1")
    assert done.id == queued.id and done.status == "succeeded" and done.worker == "w1"
    assert (done.progress_completed, done.progress_total) == (3, 3)
    assert done.metrics == {"loss": pytest.approx(1 / 3)}
    assert done.log.splitlines() == ["step 1", "step 2", "step 3"]
    assert done.started_at is not None and done.finished_at is not None
    assert worker.run_once(repo, "w1") is None  # queue is empty


def test_a_failing_job_is_marked_failed_and_the_worker_goes_on(repo, handlers):
    handlers["boom"] = lambda *_: 1 / 0
    handlers["ok"] = lambda *_: None
    repo.enqueue_job("boom")
    repo.enqueue_job("ok")
    failed = worker.run_once(repo, "w")
    # the Train page shows the job to every visitor: the type and an incident number to find
    # the traceback in the worker's log, never the exception's text (it may hold SQL or paths)
    assert failed.status == "failed" and failed.error.startswith("ZeroDivisionError (incident ")
    assert failed.log == f"failed: {failed.error}\n" and "division by zero" not in failed.log
    assert worker.run_once(repo, "w").status == "succeeded"


def test_unknown_job_kind_fails_with_a_clear_error(repo, handlers):
    repo.enqueue_job("nonexistent")
    job = worker.run_once(repo, "w")
    assert job.status == "failed" and "no trainer for job kind 'nonexistent'" in job.error


def test_a_job_is_claimed_by_one_worker_only(repo):
    repo.enqueue_job("x")
    assert repo.claim_next_job("a") is not None
    assert repo.claim_next_job("b") is None


CLAIMING_WORKER = """
import json, sys, time
from emostudio.db.repository import Repository
from emostudio.db.session import open_database
url, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
repo = Repository(open_database(url))
while time.time() < start:  # every worker starts claiming at the same moment
    time.sleep(0.001)
claimed = []
while (job := repo.claim_next_job(name)) is not None:
    claimed.append(job.id)
    time.sleep(0.005)  # doing the job, as a worker would, before claiming the next
print(json.dumps(claimed))
"""


def test_workers_racing_for_the_queue_never_claim_a_job_twice(repo, db_url):
    """Four worker processes, each with its own connection, claim from one queue at
    the same moment: every job is run by exactly one of them, and the race was real
    (more than one worker got jobs)."""
    import json
    import subprocess
    import sys
    import time

    jobs = [repo.enqueue_job("x").id for _ in range(200)]
    start = time.time() + 3.0  # after every interpreter has started and connected
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMING_WORKER, db_url, f"racer-{i}", str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    claimed = {}
    for i, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        claimed[f"racer-{i}"] = json.loads(out.strip().splitlines()[-1])
    every = [j for ids in claimed.values() for j in ids]
    assert sorted(every) == jobs  # each job once, none left behind
    assert sum(1 for ids in claimed.values() if ids) > 1
    assert {j.worker for j in repo.list_jobs(status="running", limit=1000)} == {w for w, ids in claimed.items() if ids}


def test_jobs_of_a_dead_worker_go_back_to_the_queue_then_fail_after_three_deaths(repo):
    import socket
    import subprocess

    repo.enqueue_job("x")
    repo.enqueue_job("y")
    me = worker.worker_name()
    repo.register_process(me, "worker", socket.gethostname(), os.getpid())
    live = None
    for attempt in range(worker.MAX_ATTEMPTS):
        dead = subprocess.Popen(["true"])
        dead.wait()
        orphan = repo.claim_next_job(f"{socket.gethostname()}:{dead.pid}", kinds=["x"])
        live = live or repo.claim_next_job(me, kinds=["y"])
        assert worker.recover_dead_jobs(repo) == [orphan.id]
        job = repo.get_job(orphan.id)
        if attempt < worker.MAX_ATTEMPTS - 1:
            assert (job.status, job.attempts, job.worker) == ("queued", attempt + 1, None)
            assert f"attempt {attempt + 2} of 3" in job.log.splitlines()[-1]
    assert job.status == "failed" and "stopped 3 times" in job.error
    assert repo.get_job(live.id).status == "running"  # a live worker's job is left alone


def test_a_worker_taken_for_dead_cannot_overwrite_the_job_it_lost(repo, handlers):
    """A worker silent too long (a paused machine) has its job given to another; when it
    wakes up, its progress and its ending are refused and it drops the job."""
    import socket

    from emostudio.trainers.worker import JobLost, job_hook

    job = repo.enqueue_job("slow")
    first = repo.claim_next_job("ghost-host:1")
    hook = job_hook(repo, job.id, first.worker)
    hook("slow", completed=1, total=3)
    repo.register_process("ghost-host:1", "worker", "ghost-host", 1)
    with repo.writing() as s:  # its last heartbeat, two minutes ago
        from datetime import timedelta

        from sqlalchemy import update

        from emostudio.db.models import ProcessRow

        s.execute(update(ProcessRow).values(heartbeat_at=repo.now() - timedelta(minutes=2)))
    assert worker.recover_dead_jobs(repo, stale_seconds=30) == [job.id]
    second = repo.claim_next_job(f"{socket.gethostname()}:{os.getpid()}")
    assert second.id == job.id
    with pytest.raises(JobLost):
        hook("slow", completed=2, total=3)
    assert not repo.finish_job(job.id, "succeeded", worker=first.worker)
    assert repo.get_job(job.id).status == "running" and repo.get_job(job.id).worker == second.worker
    assert repo.finish_job(job.id, "succeeded", worker=second.worker)
