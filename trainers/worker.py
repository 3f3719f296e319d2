"""The background worker: claims queued jobs from the database and runs them.

The UI only writes a job row; this loop (one process per worker) claims it, runs
the trainer registered for its kind, and writes progress, metrics, logs and the
outcome back to the row.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import traceback
from collections.abc import Callable

from db.repository import Repository
from emostudio.domain import Job

log = logging.getLogger("emostudio.worker")

# A handler runs one job: (repository, job, hook) -> id of the model version it made, if any.
JobHandler = Callable[[Repository, Job, Callable[..., None]], str | None]
JOB_HANDLERS: dict[str, JobHandler] = {}


def register(kind: str) -> Callable[[JobHandler], JobHandler]:
    def wrap(fn: JobHandler) -> JobHandler:
        JOB_HANDLERS[kind] = fn
        return fn

    return wrap


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_hook(repo: Repository, job_id: int) -> Callable[..., None]:
    """The progress hook a trainer calls; it writes to the job row the UI polls."""

    def hook(step: str, *, completed=None, total=None, metrics=None, message: str | None = None) -> None:
        repo.report_job(job_id, completed=completed, total=total, metrics=metrics, log_line=message)

    return hook


def run_once(repo: Repository, name: str | None = None) -> Job | None:
    """Claim and run the oldest queued job, if any; return it as it ended."""
    job = repo.claim_next_job(name or worker_name())
    if job is None:
        return None
    handler = JOB_HANDLERS.get(job.kind)
    if handler is None:
        repo.finish_job(job.id, "failed", error=f"no trainer for job kind {job.kind!r} (known: {sorted(JOB_HANDLERS)})")
        return repo.get_job(job.id)
    log.info("job %s (%s) started", job.id, job.kind)
    try:
        version = handler(repo, job, job_hook(repo, job.id))
    except Exception as err:  # a failed job must not stop the worker
        repo.report_job(job.id, log_line=traceback.format_exc())
        repo.finish_job(job.id, "failed", error=f"{type(err).__name__}: {err}")
    else:
        repo.finish_job(job.id, "succeeded", model_version_id=version)
    log.info("job %s ended", job.id)
    return repo.get_job(job.id)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_jobs(repo: Repository) -> list[int]:
    """Mark 'running' jobs of dead workers on this host as failed, so none stays running forever."""
    host = socket.gethostname()
    orphaned = []
    for job in repo.list_jobs(status="running", limit=1000):
        job_host, _, pid = (job.worker or "").rpartition(":")
        if job_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            repo.finish_job(job.id, "failed", error=f"worker {job.worker} exited while running this job")
            orphaned.append(job.id)
    return orphaned


def run_forever(
    repo: Repository,
    poll_seconds: float = 2.0,
    stop: threading.Event | None = None,
    parent_pid: int | None = None,
) -> None:
    """Poll for jobs until SIGTERM/SIGINT, or until ``parent_pid`` (the studio) has gone."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    for job_id in fail_orphaned_jobs(repo):
        log.warning("job %s was left running by a worker that exited; marked failed", job_id)
    log.info("worker %s polling for jobs every %.1f s", worker_name(), poll_seconds)
    while not stop.is_set():
        if parent_pid is not None and os.getppid() != parent_pid:
            log.info("studio process %s has gone; worker stops", parent_pid)
            return
        if run_once(repo) is None:
            stop.wait(poll_seconds)
