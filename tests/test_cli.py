"""The command line as a user runs it: a real process, a real database."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from emostudio.testing import speech, temp_repository, write_audio, write_av

REPO_ROOT = Path(__file__).resolve().parents[1]


def _run(args, data_dir, **kw):
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "emostudio.cli", *args], env=env, capture_output=True, text=True, timeout=300, **kw
    )


def test_import_then_ls(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    write_audio(media / "hello.wav", speech())
    write_av(media / "face.mp4", video_seconds=2.0, audio=None)
    (media / "broken.mp3").write_bytes(b"\x00" * 1000)
    (tmp_path / "labels.csv").write_text("path,emotion\nmedia/hello.wav,calm\n")

    first = _run(["import", str(media), "--labels", str(tmp_path / "labels.csv")], tmp_path / "data")
    assert first.returncode == 1  # an error happened, but the rest was imported
    assert "error: " in first.stderr and "broken.mp3: not a readable media file" in first.stderr
    assert "2 media added, 0 already known, 1 labels" in first.stdout

    second = _run(["import", str(media), "--labels", str(tmp_path / "labels.csv")], tmp_path / "data")
    assert "0 media added, 2 already known, 0 labels" in second.stdout

    listing = _run(["ls"], tmp_path / "data")
    assert listing.returncode == 0
    lines = {line.split()[1]: line.split() for line in listing.stdout.splitlines()[2:-1]}
    assert lines["hello.wav"][3] == "audio" and lines["hello.wav"][-2:] == ["1", "0"]  # 1 label, no pseudo-label
    assert lines["face.mp4"][3] == "video"
    assert listing.stdout.strip().endswith("2 media")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_launch_serves_the_studio_and_starts_a_worker(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "EMOSTUDIO_DATA_DIR": str(tmp_path / "data"),
        "EMOSTUDIO_PORT": str(port),
        "EMOSTUDIO_WORKER_POLL_SECONDS": "0.2",
    }
    proc = subprocess.Popen(
        [sys.executable, "launch.py"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.time() + 90
        page = None
        while time.time() < deadline and page is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.5)
        assert page is not None and "emostudio" in page
        workers = _children(proc.pid)
        assert len(workers) == 1
        # the worker is live and shares the studio's database: it picks up a job the UI would queue
        repo = temp_repository(tmp_path / "data")
        job = repo.enqueue_job("no-such-kind")
        while time.time() < deadline and repo.get_job(job.id).status == "queued":
            time.sleep(0.2)
        assert repo.get_job(job.id).status == "failed"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    time.sleep(1)
    assert all(not Path(f"/proc/{w}").exists() for w in workers), "worker outlived the studio"


def test_rm_deletes_what_nobody_annotated_and_keeps_the_rest(tmp_path):
    from emostudio.core.config import Settings
    from emostudio.core.domain import Annotation
    from emostudio.services.store import open_repository

    folder = tmp_path / "in"
    folder.mkdir()
    write_audio(folder / "keep.wav", speech(1.0))
    write_audio(folder / "drop.wav", speech(1.3))
    data = tmp_path / "data"
    assert _run(["analyze", str(folder), "--out", str(tmp_path / "p.csv"), "--no-asr"], data).returncode == 0
    repo = open_repository(Settings(data_dir=data))
    ids = {s.media.name: s.media.id for s in repo.list_media()}
    repo.add_annotation(Annotation(None, ids["keep.wav"], "human", "ana", label="anger"))
    cached = [p for _, _, p in repo.cached_features(ids["drop.wav"])]
    assert cached and all(Path(p).exists() for p in cached)

    out = _run(["rm", ids["drop.wav"], ids["keep.wav"], "nope"], data)
    assert out.returncode == 1
    assert out.stdout.strip() == f"deleted {ids['drop.wav']} (drop.wav)"
    assert out.stderr.splitlines() == [
        "error: keep.wav has annotations, captions, traces or transcript corrections made by people; it is kept",
        "error: there is no media nope",
    ]
    assert [s.media.name for s in repo.list_media()] == ["keep.wav"]
    assert not any(Path(p).exists() for p in cached) and (folder / "drop.wav").exists()  # read in place: kept
    assert repo.predictions(ids["drop.wav"]) == [] and len(repo.predictions(ids["keep.wav"])) > 0


def test_import_a_corpus_through_its_recipe(tmp_path, shared_data):
    done = _run(["import", "--recipe", "emodb", str(shared_data / "emodb"), "--no-vad"], tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert "535 media added, 0 already known, 535 labels" in done.stdout
    wrong = _run(["import", "--recipe", "emodb", str(shared_data / "emodb"), str(shared_data / "meld")], tmp_path)
    assert wrong.returncode != 0 and "--recipe reads one corpus folder" in wrong.stderr
