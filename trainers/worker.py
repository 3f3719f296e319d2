"""The background worker: claims queued jobs from the database and runs them.

The UI only writes a job row; this loop (one process per worker) claims it, runs
the trainer registered for its kind, and writes progress, metrics, logs and the
outcome back to the row.

A worker records a heartbeat every few seconds (in ``processes`` and on the job it
runs). A job whose worker is gone (its process has exited on this host, or it has been
silent for ``stale_seconds`` anywhere) is recovered by whoever notices first, the
studio's supervisor or any worker: it goes back to the queue, and after
``MAX_ATTEMPTS`` deaths it fails, its kind's ``on_abandon`` hook deciding what happens
to the rest of its work.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from emostudio.core.domain import Job
from emostudio.core.errors import StudioError, redact
from emostudio.db.repository import Repository

log = logging.getLogger("emostudio.worker")

MAX_ATTEMPTS = 3

# A handler runs one job: (repository, job, hook) -> id of the model version it made, if any.
JobHandler = Callable[[Repository, Job, Callable[..., None]], str | None]
# Called when a job is recovered from a dead worker: (repository, job, gave_up) -> None.
AbandonHook = Callable[[Repository, Job, bool], None]
JOB_HANDLERS: dict[str, JobHandler] = {}
ABANDON_HOOKS: dict[str, AbandonHook] = {}
SWEEPERS: list[Callable[[Repository], None]] = []
"""Run after every recovery pass (e.g. release media a dead job left 'analysing')."""


def register(kind: str, on_abandon: AbandonHook | None = None) -> Callable[[JobHandler], JobHandler]:
    def wrap(fn: JobHandler) -> JobHandler:
        JOB_HANDLERS[kind] = fn
        if on_abandon is not None:
            ABANDON_HOOKS[kind] = on_abandon
        return fn

    return wrap


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobLost(Exception):
    """This worker was taken for dead and its job given to another: stop working on it."""


class JobCancelled(Exception):
    """Someone cancelled the job: stop at this step and register nothing."""


@dataclass
class WorkerState:
    """What the heartbeat thread reports: this worker's name and the job it runs."""

    name: str
    job_id: int | None = None


def job_hook(
    repo: Repository, job_id: int, worker: str | None = None, echo: Callable[..., None] | None = None
) -> Callable[..., None]:
    """The progress hook a trainer calls; it writes to the job row the UI polls (and
    passes the report on to ``echo``, e.g. a progress bar). When the job was cancelled
    it raises ``JobCancelled``, when it is no longer ``worker``'s ``JobLost``: the trainer
    stops there."""

    def hook(
        step: str, *, completed=None, total=None, metrics=None, message: str | None = None, current: str | None = None
    ) -> None:
        if not repo.report_job(
            job_id,
            completed=completed,
            total=total,
            metrics=metrics,
            log_line=message,
            current_item=current,
            worker=worker,
        ):
            job = repo.get_job(job_id)
            if job is not None and job.status == "cancelled":
                raise JobCancelled(f"job {job_id} was cancelled")
            raise JobLost(f"job {job_id} was given to another worker")
        if echo is not None:
            echo(step, completed=completed, total=total, metrics=metrics, message=message)

    return hook


def run_once(
    repo: Repository,
    name: str | None = None,
    state: WorkerState | None = None,
    redactions: dict[str, str] | None = None,
    job_id: int | None = None,
    echo: Callable[..., None] | None = None,
) -> Job | None:
    """Claim and run the oldest queued job (or job ``job_id``), if any; return it as it ended."""
    name = name or worker_name()
    job = repo.claim_next_job(name) if job_id is None else repo.claim_job(job_id, name)
    if job is None:
        return None
    handler = JOB_HANDLERS.get(job.kind)
    if handler is None:
        repo.finish_job(job.id, "failed", error=f"no trainer for job kind {job.kind!r} (known: {sorted(JOB_HANDLERS)})")
        return repo.get_job(job.id)
    if state is not None:
        state.job_id = job.id
    me = job.worker
    log.info("job %s (%s) started", job.id, job.kind)
    try:
        version = handler(repo, job, job_hook(repo, job.id, me, echo))
    except JobLost:
        log.warning("job %s was given to another worker while this one was taken for dead; dropped here", job.id)
    except JobCancelled:
        log.info("job %s was cancelled; stopped at its next step, nothing registered", job.id)
    except Exception as err:  # a failed job must not stop the worker
        # the traceback goes to the worker's log on the server; the job row, which every
        # visitor of the Train page reads, gets one sentence: no SQL, no server path
        reason = visitor_reason(err, redactions or {})
        log.exception("job %s (%s) failed: %s", job.id, job.kind, reason)
        if repo.report_job(job.id, log_line=f"failed: {reason}", worker=me):
            repo.finish_job(job.id, "failed", error=reason, worker=me)
    else:
        if not repo.finish_job(job.id, "succeeded", model_version_id=version, worker=me):
            log.warning("job %s finished here after it was given to another worker", job.id)
    finally:
        if state is not None:
            state.job_id = None
    log.info("job %s ended", job.id)
    return repo.get_job(job.id)


def run_job_here(
    repo: Repository, job_id: int, echo: Callable[..., None] | None = None, redactions: dict[str, str] | None = None
) -> Job | None:
    """Run queued job ``job_id`` in this process (``emostudio train``) the way a worker
    would: registered as a worker, with heartbeats, so nobody takes it for dead."""
    state = WorkerState(worker_name())
    repo.register_process(state.name, "worker", socket.gethostname(), os.getpid())
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(repo, state, 5.0, stop), daemon=True, name="heartbeat").start()
    try:
        return run_once(repo, state.name, state, redactions, job_id=job_id, echo=echo)
    finally:
        stop.set()
        repo.stop_process(state.name)


def visitor_reason(err: Exception, redactions: dict[str, str]) -> str:
    """What a failure says to the people reading the Train page: a ``StudioError``'s own
    sentence; anything else only its type and an incident number to find it in the log."""
    if isinstance(err, StudioError):
        return redact(str(err), redactions)
    return f"{type(err).__name__} (incident {secrets.token_hex(4)}: the worker's log on the server has the details)"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_alive(repo: Repository, name: str | None, stale_after: timedelta, now: datetime | None = None) -> bool:
    """Whether the worker named ``host:pid`` still runs: not stopped, heard from within
    ``stale_after``, and on this host, its process still there."""
    if not name:
        return False
    now = now or repo.now()
    host, _, pid = name.rpartition(":")
    process = repo.get_process(name)
    if host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid)):
        return False
    if process is None:  # a worker from before heartbeats existed: only the pid test applies
        return host == socket.gethostname() and pid.isdigit()
    return process.stopped_at is None and process.heartbeat_at is not None and now - process.heartbeat_at < stale_after


def recover_dead_jobs(repo: Repository, stale_seconds: float = 30.0, max_attempts: int = MAX_ATTEMPTS) -> list[int]:
    """Give back to the queue (or fail, after ``max_attempts``) the running jobs of dead
    workers; returns their ids. Safe to call from several processes at once."""
    now = repo.now()
    stale = timedelta(seconds=stale_seconds)
    recovered = []
    for job in repo.list_jobs(status="running", limit=1000):
        if worker_alive(repo, job.worker, stale, now):
            continue
        where = f" while on {job.current_item}" if job.current_item else ""
        gave_up = job.attempts + 1 >= max_attempts
        if gave_up:
            done = repo.fail_running_job(
                job.id, job.worker, f"the worker stopped {job.attempts + 1} times while running this job (last{where})"
            )
        else:
            done = repo.requeue_job(
                job.id,
                job.worker,
                f"worker {job.worker} stopped{where}; the job goes back to "
                f"the queue (attempt {job.attempts + 2} of {max_attempts})",
            )
        if not done:
            continue  # another process recovered it first
        log.warning("job %s: worker %s is gone; %s", job.id, job.worker, "failed" if gave_up else "re-queued")
        if job.kind in ABANDON_HOOKS:
            ABANDON_HOOKS[job.kind](repo, job, gave_up)
        recovered.append(job.id)
    for sweep in SWEEPERS:
        sweep(repo)
    return recovered


def fail_orphaned_jobs(repo: Repository) -> list[int]:
    """Recover every job of a worker that is gone (kept for callers of the old name)."""
    return recover_dead_jobs(repo)


def _heartbeat(repo: Repository, state: WorkerState, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            repo.heartbeat(state.name, state.job_id)
        except Exception:  # noqa: BLE001 - a busy or full database must not kill the worker
            log.warning("heartbeat not recorded", exc_info=True)


def run_forever(
    repo: Repository,
    poll_seconds: float = 2.0,
    stop: threading.Event | None = None,
    parent_pid: int | None = None,
    heartbeat_seconds: float = 5.0,
    stale_seconds: float = 30.0,
    redactions: dict[str, str] | None = None,
) -> None:
    """Poll for jobs until SIGTERM/SIGINT, or until ``parent_pid`` (the studio) has gone."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    state = WorkerState(worker_name())
    repo.register_process(state.name, "worker", socket.gethostname(), os.getpid())
    beats = threading.Thread(
        target=_heartbeat, args=(repo, state, heartbeat_seconds, stop), daemon=True, name="heartbeat"
    )
    beats.start()
    log.info("worker %s polling for jobs every %.1f s", state.name, poll_seconds)
    try:
        while not stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                log.info("studio process %s has gone; worker stops", parent_pid)
                return
            for job_id in recover_dead_jobs(repo, stale_seconds):
                log.warning("recovered job %s from a worker that stopped", job_id)
            if run_once(repo, state.name, state, redactions) is None:
                stop.wait(poll_seconds)
    finally:
        stop.set()
        repo.stop_process(state.name)
