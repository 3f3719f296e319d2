"""Keeps the studio's worker alive: starts it, reaps and restarts it when it dies
(with a growing pause if it keeps dying), recovers the job it was running, and records
the studio server's own heartbeat."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time

import emostudio.trainers.jobs  # noqa: F401 - registers what recovering an analysis job does
from emostudio.db.repository import Repository
from emostudio.trainers.worker import recover_dead_jobs

log = logging.getLogger("emostudio.supervisor")
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
HEALTHY_AFTER = 120.0  # a worker that ran this long resets the restart pause


class Supervisor:
    def __init__(self, repo: Repository, settings, start_worker: bool = True, check_every: float = 1.0):
        self.repo, self.settings = repo, settings
        self.start_worker, self.check_every = start_worker, check_every
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.worker: subprocess.Popen | None = None
        self.restarts = 0
        self._failures = 0
        self._started_at = 0.0
        self._next_start = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="supervisor")

    def worker_command(self) -> list[str]:
        return [sys.executable, "-m", "emostudio.cli", "worker", "--parent-pid", str(os.getpid())]

    def start(self) -> None:
        self.repo.register_process(self.name, "server", socket.gethostname(), os.getpid())
        recover_dead_jobs(self.repo, self.settings.worker_stale_seconds)
        if self.start_worker:
            self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        self.worker = subprocess.Popen(self.worker_command())
        self._started_at = time.monotonic()
        log.info("worker started (pid %s)", self.worker.pid)

    def _run(self) -> None:
        last_beat = last_recovery = 0.0
        while not self._stop.wait(self.check_every):
            now = time.monotonic()
            try:
                if now - last_beat >= self.settings.heartbeat_seconds:
                    self.repo.heartbeat(self.name)
                    last_beat = now
                if self.start_worker:
                    self._watch_worker(now)
                if now - last_recovery >= self.settings.heartbeat_seconds:
                    recover_dead_jobs(self.repo, self.settings.worker_stale_seconds)
                    last_recovery = now
            except Exception:  # noqa: BLE001 - the supervisor must outlive a busy or full database
                log.warning("supervisor check failed", exc_info=True)

    def _watch_worker(self, now: float) -> None:
        if self.worker is not None:
            code = self.worker.poll()  # reaps it: no zombie is left behind
            if code is None:
                if now - self._started_at > HEALTHY_AFTER:
                    self._failures = 0
                return
            log.error("worker (pid %s) exited with status %s; recovering its job", self.worker.pid, code)
            # its last heartbeat may be seconds old: say it is gone, so no health line or
            # count of live workers shows it until the heartbeat goes stale
            self.repo.stop_process(f"{socket.gethostname()}:{self.worker.pid}")
            self.worker = None
            recover_dead_jobs(self.repo, self.settings.worker_stale_seconds)
            delay = RESTART_DELAYS[min(self._failures, len(RESTART_DELAYS) - 1)]
            self._failures += 1
            self._next_start = now + delay
            log.info("restarting the worker in %.0f s", delay)
        if now >= self._next_start:
            self.restarts += 1
            self._spawn()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        try:
            self.repo.stop_process(self.name)
        except Exception:  # noqa: BLE001 - stopping must not fail on a broken database
            log.warning("could not record the server's stop", exc_info=True)
