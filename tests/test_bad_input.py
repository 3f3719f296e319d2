"""Bad input never stops a batch: a matrix of cases across uploads, server imports, label
files, transcripts and API calls. In every case the good file beside the bad one is
imported (or the good request stored), the bad one gets one plain line naming it, no
server path leaks to a visitor, and what people entered before is still there.

The outcomes are written to ``test-artifacts/bad_input_matrix.md``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from emostudio.core.config import Settings
from emostudio.core.domain import Annotation
from emostudio.core.paths import studio_policy
from emostudio.services.ingest import ImportOptions, import_paths
from emostudio.services.library import import_server_paths, import_uploads
from emostudio.services.store import open_repository
from emostudio.testing import speech, write_audio, write_av

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("EMOSTUDIO_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
OUTCOMES: list[tuple[str, str, str]] = []
CASES = {}


def case(area: str, name: str):
    def register(fn):
        CASES[f"{area}: {name}"] = fn
        return fn

    return register


@pytest.fixture(scope="module", autouse=True)
def matrix_report():
    yield
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lines = ["| area | case | outcome |", "|---|---|---|"]
    lines += [f"| {a} | {c} | {o.replace('|', '/')} |" for a, c, o in sorted(OUTCOMES)]
    (ARTIFACTS / "bad_input_matrix.md").write_text("\n".join(lines) + f"\n\n{len(OUTCOMES)} cases\n")


class Studio:
    """A data folder with one person's annotation in it, which no case may lose."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.settings = Settings(data_dir=tmp_path / "data")
        self.repo = open_repository(self.settings)
        seed = write_audio(tmp_path / "seed.wav", speech(1.0))
        (self.seed,) = import_paths(self.repo, [seed], options=ImportOptions(vad=False)).added
        self.repo.add_annotation(Annotation(None, self.seed.id, "human", "ana", label="anger", start=0.0, duration=1.0))
        self.folder = tmp_path / "in"
        self.folder.mkdir()
        self.good = write_audio(self.folder / "good.wav", speech(1.5))

    def import_(self, paths=None, labels=None, **options):
        options = ImportOptions(**{"vad": False, "policy": studio_policy(self.settings), **options})
        return import_paths(self.repo, [self.folder] if paths is None else paths, labels=labels, options=options)

    def check(self, report, bad: str, expect: str, good_imported: bool = True) -> str:
        names = {m.name for m in report.added + report.known}
        if good_imported:
            assert "good.wav" in names, report.errors
        lines = [e for e in report.errors if bad in e]
        assert len(lines) == 1, report.errors
        assert expect in lines[0], lines[0]
        assert "\n" not in lines[0] and "Traceback" not in lines[0]
        assert [a.annotator for a in self.repo.annotations(source="human")] == ["ana"]  # nothing lost
        return lines[0]


@pytest.fixture
def studio(tmp_path):
    return Studio(tmp_path)


# -- importing media ----------------------------------------------------------------------


@case("import", "empty file")
def _(s: Studio):
    (s.folder / "empty.wav").write_bytes(b"")
    return s.check(s.import_(), "empty.wav", "empty file (0 bytes)")


@case("import", "not a media file")
def _(s: Studio):
    (s.folder / "notes.wav").write_bytes(os.urandom(4000))
    return s.check(s.import_(), "notes.wav", "not a readable media file")


@case("import", "truncated MP4")
def _(s: Studio):
    full = write_av(s.tmp / "full.mp4", video_seconds=2.0, audio=speech(2.0)).read_bytes()
    (s.folder / "cut.mp4").write_bytes(full[: len(full) // 2])
    return s.check(s.import_(), "cut.mp4", "truncated or incomplete MP4")


@case("import", "unsupported file type named directly")
def _(s: Studio):
    (s.folder / "notes.docx").write_text("x")
    return s.check(s.import_([s.good, s.folder / "notes.docx"]), "notes.docx", "unsupported file type")


@case("import", "path that does not exist")
def _(s: Studio):
    return s.check(s.import_([s.good, s.folder / "gone.wav"]), "gone.wav", "file not found")


@case("import", "folder named like a media file")
def _(s: Studio):
    (s.folder / "dir.wav").mkdir()
    report = s.import_([s.good, s.folder / "dir.wav"])
    assert "good.wav" in {m.name for m in report.added}
    return "; ".join(report.errors) or "skipped silently (a folder is searched, it holds no media)"


@case("import", "file name that is not UTF-8, read in place")
def _(s: Studio):
    name = os.fsencode(s.folder) + b"/caf\xe9.wav"
    with open(name, "wb") as f:
        f.write(s.good.read_bytes()[:-2] + b"\x00\x01")  # other bytes: not an alias of good.wav
    return s.check(s.import_(), "caf\ufffd.wav", "not valid UTF-8")


@case("import", "file name that is not UTF-8, copied into the store")
def _(s: Studio):
    name = os.fsencode(s.folder) + b"/caf\xe9.wav"
    with open(name, "wb") as f:
        f.write(write_audio(s.tmp / "other.wav", speech(1.2)).read_bytes())
    report = s.import_(copy=True, media_dir=s.settings.media_dir)
    assert {m.name for m in report.added} == {"good.wav", "caf\ufffd.wav"} and not report.errors
    return "imported; shown as caf\ufffd.wav"


@case("import", "video track that cannot be decoded, with audio")
def _(s: Studio):
    data = bytearray(write_av(s.tmp / "v.mp4", video_seconds=2.0, audio=speech(2.0)).read_bytes())
    i = data.find(b"avcC")
    n = int.from_bytes(data[i + 10 : i + 12], "big")
    data[i + 13 : i + 12 + n] = b"\xff" * (n - 1)  # a broken H.264 parameter set
    (s.folder / "broken_video.mp4").write_bytes(bytes(data))
    report = s.import_()
    (media,) = [m for m in report.added if m.name == "broken_video.mp4"]
    assert media.info.modality == "audio" and not report.errors
    (warning,) = report.warnings
    return f"imported as audio only; warning: {warning.split(': ', 1)[1]}"


@case("import", "video track that cannot be decoded, no audio")
def _(s: Studio):
    data = bytearray(write_av(s.tmp / "v.mp4", video_seconds=2.0, audio=None).read_bytes())
    i = data.find(b"avcC")
    n = int.from_bytes(data[i + 10 : i + 12], "big")
    data[i + 13 : i + 12 + n] = b"\xff" * (n - 1)
    (s.folder / "broken.mp4").write_bytes(bytes(data))
    return s.check(s.import_(), "broken.mp4", "the video track cannot be used")


@case("import", "symlink to the studio's database inside an imported folder")
def _(s: Studio):
    os.symlink(s.settings.data_dir / "emostudio.db", s.folder / "db.wav")
    return s.check(s.import_(), "db.wav", "never read as input")


@case("import", "hard link to the studio's database")
def _(s: Studio):
    os.link(s.settings.data_dir / "emostudio.db", s.folder / "copy.wav")
    return s.check(s.import_(), "copy.wav", "never read as input")


@case("labels", "a path to an unknown user's home folder")
def _(s: Studio):
    report = s.import_(labels=_labels(s, "path,emotion\n~nosuchuser/x.wav,anger\ngood.wav,fear\n"))
    assert report.labels_added == 1
    return s.check(report, "labels.csv:2", "file not found: '~nosuchuser/x.wav'")


@case("import", "the data folder itself")
def _(s: Studio):
    report = s.import_([s.good, s.settings.data_dir])
    return s.check(report, "data", "never read as input")


# -- label files --------------------------------------------------------------------------


def _labels(s: Studio, text: str | bytes, name: str = "labels.csv") -> Path:
    path = s.folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@case("labels", "unknown label")
def _(s: Studio):
    report = s.import_(labels=_labels(s, "path,emotion\ngood.wav,happyy\n"))
    return s.check(report, "labels.csv:2", "unknown label 'happyy'")


@case("labels", "row naming a missing file")
def _(s: Studio):
    report = s.import_(labels=_labels(s, "path,emotion\ngood.wav,anger\nmissing.wav,anger\n"))
    assert report.labels_added == 1
    return s.check(report, "labels.csv:3", "file not found: 'missing.wav'")


@case("labels", "arousal out of range, not a number, NaN")
def _(s: Studio):
    report = s.import_(labels=_labels(s, "path,emotion,arousal\ngood.wav,,1.5\ngood.wav,,high\ngood.wav,,nan\n"))
    assert [e.split(": ", 1)[1] for e in report.errors] == [
        "arousal 1.5 is outside [-1, 1]",
        "arousal 'high' is not a number",
        "arousal is not a number (NaN)",
    ]
    return "; ".join(report.errors)


@case("labels", "no path column")
def _(s: Studio):
    report = s.import_(labels=_labels(s, "file_name,emotion\ngood.wav,anger\n"))
    return s.check(report, "labels.csv", "no path column in the header")


@case("labels", "not UTF-8")
def _(s: Studio):
    report = s.import_(labels=_labels(s, "path,emotion\ngood.wav,col\xe8re\n".encode("latin-1")))
    return s.check(report, "labels.csv", "not UTF-8 text (byte 0xe8")


@case("labels", "a cell over 128 KB")
def _(s: Studio):
    report = s.import_(labels=_labels(s, "path,emotion\ngood.wav," + "x" * 200_000 + "\ngood.wav,anger\n"))
    assert report.labels_added == 1
    return s.check(report, "labels.csv:2", "a cell is longer than 128 KB")


@case("labels", "a NUL byte")
def _(s: Studio):
    report = s.import_(labels=_labels(s, b"path,emotion\ngood.wav,ang\x00er\ngood.wav,sad\n"))
    assert report.labels_added == 1
    return s.check(report, "labels.csv:2", "unknown label 'ang\\x00er'")


@case("labels", "cell text is quoted short, never a page of it")
def _(s: Studio):
    report = s.import_(labels=_labels(s, "path,emotion\ngood.wav," + "secret " * 500 + "\n"))
    line = s.check(report, "labels.csv:2", "unknown label")
    assert len(line) < 200
    return line


@case("labels", ".scp line with too few fields")
def _(s: Studio):
    report = s.import_(labels=_labels(s, "utt1 good.wav anger\nutt2 good.wav\n", "list.scp"))
    assert report.labels_added == 1
    return s.check(report, "list.scp:2", "expected 'utt_id path label'")


@case("labels", "row naming the studio's database")
def _(s: Studio):
    report = s.import_(
        labels=_labels(s, f"path,emotion\n{s.settings.data_dir / 'emostudio.db'},anger\ngood.wav,fear\n")
    )
    return s.check(report, "labels.csv:2", "is not inside a folder this studio imports from")


@case("labels", "server label file naming ../ and absolute paths outside the import folders")
def _(s: Studio):
    outside = s.tmp / "outside"
    outside.mkdir()
    write_audio(outside / "secret.wav", speech(1.0))
    _labels(s, f"path,emotion\n../outside/secret.wav,anger\n{outside / 'secret.wav'},fear\ngood.wav,sadness\n")
    policy = studio_policy(s.settings, [s.folder])
    report = import_server_paths(
        s.repo, "", str(s.folder / "labels.csv"), False, s.settings.media_dir, policy, vad=False
    )
    assert [m.name for m in report.added] == ["good.wav"] and report.labels_added == 1
    assert len(report.errors) == 2 and all(str(outside) not in e for e in report.errors)
    return "; ".join(report.errors)


@case("labels", "the same label file imported by two processes at once")
def _(s: Studio):
    labels = _labels(
        s,
        "path,emotion\ngood.wav,anger\n"
        + "".join(
            f"c{i}.wav,{e}\n" for i, e in enumerate(["fear", "sadness", "neutral", "happiness", "disgust", "surprise"])
        ),
    )
    for i in range(6):
        write_audio(s.folder / f"c{i}.wav", speech(0.55 + 0.13 * i))  # none as long as seed.wav or good.wav
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(s.settings.data_dir)}
    cmd = [sys.executable, "-m", "emostudio.cli", "import", "--labels", str(labels), "--no-vad"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    imported = s.repo.annotations(source="import")
    assert len(imported) == 7 and len(s.repo.list_media()) == 8
    return "3 processes at once: all exit 0, 7 labels and 7 media stored once"


# -- transcripts ----------------------------------------------------------------------------


@case("transcripts", "not UTF-8")
def _(s: Studio):
    (s.folder / "good.srt").write_bytes("1\n00:00:00,000 --> 00:00:01,000\nCaf\xe9\n".encode("latin-1"))
    return s.check(s.import_(), "good.srt", "not utf-8 text (byte 0xe9")


@case("transcripts", "malformed subtitles")
def _(s: Studio):
    (s.folder / "good.vtt").write_text("WEBVTT\n\nthis is not a cue\n")
    return s.check(s.import_(), "good.vtt", "(media imported without it)")


@case("transcripts", "sidecar that links to the studio's database")
def _(s: Studio):
    os.symlink(s.settings.data_dir / "emostudio.db", s.folder / "good.srt")
    return s.check(s.import_(), "good.srt", "never read as input")


# -- uploads through the browser ----------------------------------------------------------------


def _upload(s: Studio, name: str, data: bytes) -> str:
    folder = s.tmp / "gradio" / os.urandom(4).hex()
    folder.mkdir(parents=True)
    (folder / name).write_bytes(data)
    return str(folder / name)


@case("upload", "label file naming absolute and ../ paths on the server")
def _(s: Studio):
    secret = write_audio(s.tmp / "private.wav", speech(1.0))
    files = [
        _upload(s, "good.wav", s.good.read_bytes()),
        _upload(s, "labels.csv", f"path,emotion\n{secret},anger\n../../private.wav,fear\ngood.wav,sad\n".encode()),
    ]
    report = import_uploads(s.repo, files, s.settings.media_dir, vad=False, policy=studio_policy(s.settings))
    assert [m.name for m in report.added] == ["good.wav"] and report.labels_added == 1
    assert not any(Path(m.media.path).name.startswith(secret.stem) for m in s.repo.list_media())
    assert all(str(s.tmp) not in e and "emostudio-upload" not in e for e in report.errors), report.errors
    assert not any(Path(f).exists() for f in files)  # the uploaded temporary copies are gone
    return "; ".join(report.errors)


@case("upload", "a media file that is not media")
def _(s: Studio):
    files = [_upload(s, "good.wav", s.good.read_bytes()), _upload(s, "fake.mp4", b"<html>not a video</html>")]
    report = import_uploads(s.repo, files, s.settings.media_dir, vad=False, policy=studio_policy(s.settings))
    line = s.check(report, "fake.mp4", "not a readable media file (Invalid data found when processing input)")
    assert line.startswith("fake.mp4:")  # named as uploaded, no server folder
    return line


# -- the JSON API -----------------------------------------------------------------------------


@pytest.fixture
def api(studio):
    from fastapi.testclient import TestClient

    from emostudio.ui.server import create_server

    return TestClient(create_server(studio.repo, studio.settings), base_url="http://127.0.0.1")


def _api_case(name: str, body, status: int, expect: str):
    @case("api", name)
    def _(s: Studio, client):
        good = {"media_id": s.seed.id, "start": 0.0, "end": 0.5, "label": "fear", "annotator": "bob"}
        payload = body(s) if callable(body) else body
        r = (
            client.post("/api/annotations", content=payload, headers={"content-type": "application/json"})
            if isinstance(payload, str)
            else client.post("/api/annotations", json=payload)
        )
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert expect in error and "Traceback" not in error and "SELECT" not in error.upper()
        assert client.post("/api/annotations", json=good).status_code == 201  # the next good request goes through
        assert [a.annotator for a in s.repo.annotations(source="human")] == ["ana", "bob"]
        return f"{status}: {error}"

    return _


def _body(**change):
    return lambda s: {"media_id": s.seed.id, "start": 0.0, "end": 0.5, "label": "fear", "annotator": "bob", **change}


_api_case("body that is not JSON", "{not json", 400, "the request body is not valid JSON")
_api_case("start is text", _body(start="soon"), 400, "start")
_api_case("end before start", _body(start=0.8, end=0.2), 400, "empty or negative")
_api_case("range past the end of the media", _body(end=30.0), 400, "after the end of seed.wav")
_api_case("unknown media", _body(media_id="nope"), 404, "no media nope")
_api_case("unknown label", _body(label="bliss"), 400, "unknown label 'bliss'")
_api_case("valence out of range", _body(valence=3.0), 400, "valence must be between -1 and 1")
_api_case("annotator name of 10,000 characters", _body(annotator="x" * 10_000), 400, "annotator")
_api_case("prediction of another media", _body(corrects_prediction_id=123456), 400, "is not one of this media's")


# -- the runner ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, studio, request):
    fn = CASES[name]
    args = (studio, request.getfixturevalue("api")) if name.startswith("api:") else (studio,)
    outcome = fn(*args)
    OUTCOMES.append((*name.split(": ", 1), outcome))
    assert (
        sqlite3.connect(studio.settings.data_dir / "emostudio.db").execute("PRAGMA integrity_check").fetchone()[0]
        == "ok"
    )


def test_the_matrix_has_at_least_25_cases():
    assert len(CASES) >= 25


def test_saves_from_many_threads_at_once_all_store(studio):
    """Real concurrency: 8 threads x 25 saves through the service at once; every one is stored."""
    from emostudio.services.annotate import save_correction

    errors = []

    def annotate(k):
        try:
            for _i in range(25):
                save_correction(studio.repo, studio.seed, f"t{k}", 0.0, 0.5, "fear")
        except Exception as err:  # noqa: BLE001 - collected and reported below
            errors.append(err)

    threads = [threading.Thread(target=annotate, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(studio.repo.annotations(source="human")) == 1 + 8 * 25
    assert np.all([a.label == "fear" for a in studio.repo.annotations(source="human")[1:]])
