"""What survives crashes and load: the studio run as users run it (`emostudio serve` in its
own process, on loopback), measured from outside.

    python -m bench.robustness [--workdir /tmp/emostudio-robustness]

- kill the worker (SIGKILL) in the middle of an analysis job: is it restarted, is the job
  finished, how long until work resumes;
- kill the server (SIGKILL) while clients save corrections, and while its worker runs a
  job: after a restart, are all acknowledged saves there, is any job or media stuck;
- load: 20 signed-in clients each saving 50 corrections through the JSON API while the
  worker analyses media: stored / attempted, p50 / p95 latency.

Writes ``bench/results/robustness.json``. The tests run the same scenarios, smaller.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from emostudio.core.domain import ANALYZE_JOB
from emostudio.testing import StudioProcess, add_user, signed_in_client, speech, write_audio

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "emostudio.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=600,
    )


def _repo(data_dir: Path):
    from emostudio.core.config import Settings
    from emostudio.services.store import open_repository

    return open_repository(Settings(data_dir=data_dir))


def _media_folder(root: Path, n: int, seconds: float) -> Path:
    folder = root / "media"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_audio(folder / f"talk{i}.wav", speech(seconds + 0.37 * i))  # distinct bytes: distinct media
    return folder


def _wait(condition, timeout: float, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"gave up after {timeout:.0f} s")


def _queue_analysis(studio: StudioProcess) -> None:
    from gradio_client import Client

    Client(studio.url, verbose=False).predict(api_name="/analyse_all")


def kill_worker_mid_job(root: Path, n_media: int = 4, seconds: float = 15.0) -> dict:
    """SIGKILL the worker while it analyses the first of ``n_media`` files."""
    data = root / "data"
    _cli(data, "import", str(_media_folder(root, n_media, seconds)))
    repo = _repo(data)
    with StudioProcess(data) as studio:
        _queue_analysis(studio)
        job = _wait(lambda: next((j for j in repo.list_jobs(status="running") if j.current_item), None), 120)
        worker = _wait(lambda: next((p for p in repo.processes(role="worker") if p.name == job.worker), None), 30)
        os.kill(worker.pid, signal.SIGKILL)
        killed = time.monotonic()
        _wait(
            lambda: (
                next((j for j in repo.list_jobs(status="running") if j.id == job.id and j.worker != job.worker), None)
                or repo.get_job(job.id).status == "succeeded"
            ),
            120,
            every=0.05,
        )
        resumed_after = time.monotonic() - killed
        # the studio says the killed worker is gone as soon as it reaps it (the Health line
        # must not show it alive until its last heartbeat goes stale)
        dead_row = repo.get_process(job.worker)
        marked_stopped = dead_row is not None and dead_row.stopped_at is not None
        done = _wait(lambda: repo.get_job(job.id).status in ("succeeded", "failed"), 300)
        finished_after = time.monotonic() - killed
        final = repo.get_job(job.id)
        live = repo.processes(role="worker", since=timedelta(seconds=10))
        statuses = [s.media.status for s in repo.list_media()]
        reaped = not Path(f"/proc/{worker.pid}").exists()  # no zombie left behind by the studio
    return {
        "media": n_media,
        "job_status": final.status,
        "attempts": final.attempts,
        "resumed_after_s": round(resumed_after, 2),
        "finished_after_s": round(finished_after, 2),
        "media_analysed": statuses.count("analysed"),
        "media_stuck_analysing": statuses.count("analysing"),
        "new_worker_alive": bool(live) and all(p.pid != worker.pid for p in live),
        "done": bool(done),
        "killed_worker_reaped": reaped,
        "killed_worker_marked_stopped": marked_stopped,
    }


def _saver(url: str, media_id: str, name: str, acknowledged: list, stop: threading.Event, login=None):
    client = signed_in_client(url, *(login or ()))
    i = 0
    while not stop.is_set():
        body = {"media_id": media_id, "start": 0.0, "end": 1.0, "label": "fear", "annotator": f"{name}-{i}"}
        try:
            r = client.post("api/annotations", json=body, timeout=10)
        except Exception:  # noqa: BLE001 - the server is gone: this save was never acknowledged
            return
        if r.status_code == 201:
            acknowledged.append(r.json()["id"])
        i += 1


def kill_server_mid_save(root: Path, clients: int = 4, seconds: float = 3.0) -> dict:
    """SIGKILL the server while ``clients`` threads save; restart; count what was acknowledged and kept."""
    data = root / "data"
    _cli(data, "import", str(_media_folder(root, 1, 2.0)), "--no-vad")
    studio = StudioProcess(data, worker=False)
    media_id = signed_in_client(studio.url).get("api/media").json()[0]["id"]
    acknowledged: list[int] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_saver, args=(studio.url, media_id, f"c{k}", acknowledged, stop))
        for k in range(clients)
    ]
    for t in threads:
        t.start()
    time.sleep(seconds)
    studio.kill()
    stop.set()
    for t in threads:
        t.join()
    started = time.monotonic()
    with StudioProcess(data, worker=False) as again:
        restart = time.monotonic() - started
        stored = {a["id"] for a in signed_in_client(again.url).get("api/annotations").json()}
    return {
        "acknowledged": len(acknowledged),
        "acknowledged_and_stored": len(set(acknowledged) & stored),
        "lost": len(set(acknowledged) - stored),
        "restart_s": round(restart, 2),
    }


def kill_server_mid_job(root: Path, n_media: int = 3, seconds: float = 15.0) -> dict:
    """SIGKILL the server while its worker analyses; restart; is any job or media left stuck?"""
    data = root / "data"
    _cli(data, "import", str(_media_folder(root, n_media, seconds)))
    repo = _repo(data)
    studio = StudioProcess(data)
    _queue_analysis(studio)
    _wait(lambda: next((j for j in repo.list_jobs(status="running") if j.current_item), None), 120)
    studio.kill()
    killed = time.monotonic()
    with StudioProcess(data):
        _wait(lambda: not repo.list_jobs(status="running") and not repo.list_jobs(status="queued"), 300)
        settled = time.monotonic() - killed
        statuses = [s.media.status for s in repo.list_media()]
        jobs = [j.status for j in repo.list_jobs()]
    return {
        "jobs": jobs,
        "jobs_stuck": sum(s in ("running", "queued") for s in jobs),
        "media_analysed": statuses.count("analysed"),
        "media_stuck_analysing": statuses.count("analysing"),
        "all_done_after_s": round(settled, 2),
    }


def load(root: Path, clients: int = 20, saves: int = 50, analyse: int = 3) -> dict:
    """``clients`` signed-in annotators save ``saves`` corrections each, all at once, while
    the worker analyses ``analyse`` media."""
    data = root / "data"
    _cli(data, "import", str(_media_folder(root, max(1, analyse), 10.0)))
    for k in range(clients):
        add_user(data, f"ann{k}", "annotator", f"password-{k}")
    with StudioProcess(data) as studio:
        sessions = [signed_in_client(studio.url, f"ann{k}", f"password-{k}") for k in range(clients)]
        media_id = sessions[0].get("api/media").json()[0]["id"]
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(clients)

        def client(k: int) -> None:
            session = sessions[k]
            start.wait()
            for _i in range(saves):
                body = {"media_id": media_id, "start": 0.0, "end": 1.0, "label": "anger", "valence": -0.5}
                t0 = time.perf_counter()
                try:
                    r = session.post("api/annotations", json=body, timeout=60)
                    ok = r.status_code == 201
                    reason = "" if ok else f"{r.status_code} {r.text[:100]}"
                except Exception as err:  # noqa: BLE001 - counted as a failed save
                    ok, reason = False, type(err).__name__
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    if not ok:
                        failures.append(reason)

        repo = _repo(data)
        if analyse:  # what an admin's "Analyse" button queues: the worker writes predictions during the load
            repo.enqueue_job(ANALYZE_JOB, {"media_ids": None, "force": True})
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        stored = len([a for a in repo.annotations(source="human") if a.annotator.startswith("ann")])
        analysing = [j.status for j in repo.list_jobs()]
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "attempted": clients * saves,
        "stored": stored,
        "failures": len(failures),
        "failure_reasons": sorted(set(failures))[:5],
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
        "saves_per_s": round(clients * saves / wall, 1),
        "jobs_during_load": analysing,
    }


def main(argv: list[str] | None = None) -> None:
    from bench.results import write_results

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=Path("/tmp/emostudio-robustness"), type=Path)
    args = parser.parse_args(argv)
    import shutil

    shutil.rmtree(args.workdir, ignore_errors=True)
    figures = {}
    for name, scenario in [
        ("kill_worker_mid_job", kill_worker_mid_job),
        ("kill_server_mid_save", kill_server_mid_save),
        ("kill_server_mid_job", kill_server_mid_job),
        ("load", load),
    ]:
        figures[name] = scenario(args.workdir / name)
        print(name, figures[name], flush=True)
    print(write_results("robustness", figures))


if __name__ == "__main__":
    main()
