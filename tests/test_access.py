"""Who may read and change what: nothing under the data folder is served except through
checked routes, users and roles on every route, the loopback-only rule without users,
and the database file never opened as a plain file (which would lose writes)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from emostudio.core.config import Settings
from emostudio.services.ingest import ImportOptions, import_paths
from emostudio.services.store import open_repository
from emostudio.testing import StudioProcess, add_user, signed_in_client, speech, write_audio

REPO_ROOT = Path(__file__).resolve().parents[1]
PASSWORDS = {"ada": "admin-pass-1", "ann": "annot-pass-1", "vic": "viewer-pass-1", "tim": "temp-pass-1"}
ROLES = {"ada": "admin", "ann": "annotator", "vic": "viewer", "tim": "annotator"}


def _cli(data_dir: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data_dir), **kw.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "emostudio.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        **kw,
    )


@pytest.fixture
def local_studio(tmp_path):
    """An in-process studio without users, with one stored upload and its analysis files."""
    from fastapi.testclient import TestClient

    from emostudio.ui.server import create_server

    settings = Settings(data_dir=tmp_path / "data")
    repo = open_repository(settings)
    clip = write_audio(tmp_path / "voice.wav", speech(2.0))
    (media,) = import_paths(
        repo, [clip], options=ImportOptions(copy=True, media_dir=settings.media_dir, vad=False)
    ).added
    (settings.cache_dir / "features").mkdir(parents=True)
    (settings.cache_dir / "features" / "x.npy").write_bytes(b"\x93NUMPY")
    client = TestClient(create_server(repo, settings), base_url="http://127.0.0.1")
    return client, settings, repo, media


def test_nothing_in_the_data_folder_downloads_but_through_checked_routes(local_studio):
    client, settings, repo, media = local_studio
    data = settings.data_dir.resolve()
    secrets = [
        data / "emostudio.db",
        data / "emostudio.db-wal",
        data / "emostudio.db-shm",
        Path(media.path),
        settings.cache_dir.resolve() / "features" / "x.npy",
    ]
    assert all(p.exists() for p in secrets[:2])
    attempts = []
    for p in secrets:
        attempts += [
            f"/gradio_api/file={p}",
            f"/file={p}",
            f"/gradio_api/file={os.path.relpath(p)}",
            f"/gradio_api/file={str(p).replace('/', '%2F')}",
            f"/gradio_api/file=/tmp/../{p}",
        ]
    for url in attempts:
        r = client.get(url)
        assert r.status_code in (403, 404, 401), url  # (Gradio's refusal echoes the path the visitor sent)
        assert b"SQLite format" not in r.content and b"RIFF" not in r.content and b"NUMPY" not in r.content, url
    # the media itself streams through its own route; a media row pointing at the database never does
    assert client.get(f"/media/{media.id}").status_code == 200
    with repo.session() as s, s.begin():
        from emostudio.db.models import MediaRow

        s.get(MediaRow, media.id).path = str(data / "emostudio.db")
    r = client.get(f"/media/{media.id}")
    assert r.status_code == 404 and b"SQLite format" not in r.content
    # Gradio's usage analytics are off
    assert client.get("/config").json()["analytics_enabled"] is False


def test_without_users_the_studio_answers_only_to_this_machine(local_studio, tmp_path):
    client, *_ = local_studio
    assert client.get("/config", headers={"host": "evil.example:7860"}).status_code == 403  # DNS rebinding
    assert client.get("/config", headers={"host": "localhost:7860"}).status_code == 200
    out = _cli(tmp_path / "data2", "serve", "--host", "0.0.0.0", "--port", "0")
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: the studio has no users, so it only listens on 127.0.0.1")


def test_a_plain_open_of_the_database_in_a_process_that_holds_it_loses_writes(tmp_path):
    """Why the studio never opens its database file as a plain file: doing so drops SQLite's
    locks, and the next process to close the database deletes the WAL still in use."""
    db = tmp_path / "x.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x)")
    con.execute("INSERT INTO t VALUES (1)")
    open(db, "rb").close()  # what serving the file, or reading it as a label file, did
    reader = (
        f"import sqlite3; c = sqlite3.connect({str(db)!r}); c.execute('SELECT count(*) FROM t').fetchone(); c.close()"
    )
    subprocess.run([sys.executable, "-c", reader], check=True)  # another process reads, then closes
    for i in range(2, 5):
        con.execute(f"INSERT INTO t VALUES ({i})")
    seen = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sqlite3; print(sqlite3.connect({str(db)!r}).execute('SELECT count(*) FROM t').fetchone()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert seen == "1"  # three committed rows gone: the failure the studio must never trigger


@pytest.fixture(scope="module")
def team_studio(tmp_path_factory):
    """A studio with an admin, an annotator and a viewer, importing only from one folder."""
    root = tmp_path_factory.mktemp("team")
    data, allowed, outside = root / "data", root / "allowed", root / "outside"
    allowed.mkdir()
    outside.mkdir()
    write_audio(allowed / "inside.wav", speech(2.0))
    write_audio(outside / "secret.wav", speech(2.0))
    (outside / "secret.csv").write_text("path,emotion\nsecret.wav,anger\n")
    for name, role in ROLES.items():
        add_user(data, name, role, PASSWORDS[name])
    studio = StudioProcess(
        data, env={"EMOSTUDIO_IMPORT_ROOTS": f'["{allowed}"]', "GRADIO_TEMP_DIR": str(root / "gradio")}
    )
    yield studio, allowed, outside
    studio.stop()


def _gradio(studio, name):
    from gradio_client import Client

    return Client(studio.url, auth=(name, PASSWORDS[name]), verbose=False)


def test_signed_out_visitors_get_nothing(team_studio):
    studio, *_ = team_studio
    anon = signed_in_client(studio.url)
    db = studio.data_dir / "emostudio.db"
    for url in [
        "config",
        "gradio_api/info",
        "gradio_api/file=" + str(db),
        "media/x",
        "thumbnails/x/1.0.jpg",
        "figures/x",
        "es-static/plotly.min.js",
        "exports/x/y.csv",
        "api/media",
        "api/annotations",
        "gradio_api/upload",
    ]:
        r = anon.get(url) if url != "gradio_api/upload" else anon.post(url, files={"files": ("a.wav", b"x")})
        assert r.status_code == 401, url
    assert (
        anon.post("api/annotations", json={"media_id": "x", "start": 0, "end": 1, "label": "anger"}).status_code == 401
    )
    assert anon.post("login", data={"username": "ada", "password": "wrong-password"}).status_code == 400


def test_each_role_may_do_what_it_should_and_nothing_more(team_studio):
    from gradio_client.exceptions import AppError

    studio, allowed, outside = team_studio
    admin = _gradio(studio, "ada")
    admin.predict(str(allowed), "", False, "", "", "", "", api_name="/imported")
    media = signed_in_client(studio.url, "vic", PASSWORDS["vic"]).get("api/media").json()
    (inside,) = [m for m in media if m["name"] == "inside.wav"]
    body = {"media_id": inside["id"], "start": 0.0, "end": 1.0, "label": "anger", "annotator": "mallory"}

    viewer = signed_in_client(studio.url, "vic", PASSWORDS["vic"])
    r = viewer.post("api/annotations", json=body)
    assert r.status_code == 403 and "needs the annotator role" in r.json()["error"]
    with pytest.raises(AppError, match="needs the annotator role"):
        _gradio(studio, "vic").predict("", "anger", 0.0, 1.0, None, None, None, api_name="/save")

    annotator = signed_in_client(studio.url, "ann", PASSWORDS["ann"])
    saved = annotator.post("api/annotations", json=body)
    assert saved.status_code == 201 and saved.json()["annotator"] == "ann"  # the login, not what the body says
    ann = _gradio(studio, "ann")
    for endpoint, args in [
        ("/imported", (str(allowed), "", False, "", "", "", "")),
        ("/analyse_all", ()),
        ("/rollback", ()),
        ("/remove", (inside["id"], "", "", "", "")),
    ]:
        with pytest.raises(AppError, match="needs the admin role"):
            ann.predict(*args, api_name=endpoint)

    # even an admin imports only inside import_roots, and a label file cannot reach out of them
    report = admin.predict(str(outside), "", False, "", "", "", "", api_name="/imported")[0]
    assert "not inside a folder this studio imports from" in report and "0 media added" in report
    report = admin.predict("", str(outside / "secret.csv"), False, "", "", "", "", api_name="/imported")[0]
    assert "0 media added" in report and "anger" not in report
    (allowed / "escape.csv").write_text(f"path,emotion\n../outside/secret.wav,anger\n{outside / 'secret.wav'},fear\n")
    report = admin.predict("", str(allowed / "escape.csv"), False, "", "", "", "", api_name="/imported")[0]
    assert report.count("not inside a folder this studio imports from") == 2 and str(outside) not in report
    assert report.startswith("0 media added")
    (allowed / "db.csv").write_text("path,emotion\n../data/emostudio.db,anger\n")
    os.symlink(studio.data_dir / "emostudio.db", allowed / "link.wav")
    report = admin.predict(str(allowed), str(allowed / "db.csv"), False, "", "", "", "", api_name="/imported")[0]
    assert "link.wav: the studio's own data folder and database are never read as input" in report
    assert "0 media added" in report


def test_no_write_is_lost_across_the_triggers_that_used_to_drop_sqlite_locks(tmp_path):
    """Download attempts of the database, its path typed as a label file, a label file and a
    symlink naming it, then command-line processes opening and closing the database while
    the studio writes: every save stays (checked from a fresh process after the studio stops)."""
    data = tmp_path / "data"
    folder = tmp_path / "in"
    folder.mkdir()
    write_audio(folder / "a.wav", speech(2.0))
    assert _cli(data, "import", str(folder), "--no-vad").returncode == 0
    db = data / "emostudio.db"
    (folder / "names_db.csv").write_text(f"path,emotion\n{db},anger\n")
    os.symlink(db, folder / "db_link.wav")
    with StudioProcess(data, worker=False) as studio:
        client = signed_in_client(studio.url)
        media_id = client.get("api/media").json()[0]["id"]
        stored = 0
        for round_ in range(3):
            for url in [f"gradio_api/file={db}", f"gradio_api/file={db}-wal", f"file={db}"]:
                assert client.get(url).status_code in (403, 404)
            from gradio_client import Client

            gradio = Client(studio.url, verbose=False)
            gradio.predict(str(folder), str(db), False, "", "", "", "", api_name="/imported")
            gradio.predict("", str(folder / "names_db.csv"), False, "", "", "", "", api_name="/imported")
            for _ in range(5):
                body = {"media_id": media_id, "start": 0.0, "end": 1.0, "label": "fear", "annotator": f"r{round_}"}
                assert client.post("api/annotations", json=body).status_code == 201
                stored += 1
            for command in (["ls"], ["export", "--annotations", str(tmp_path / f"a{round_}.csv")]):
                assert _cli(data, *command).returncode == 0  # each opens and closes the database
    count = sqlite3.connect(db).execute("SELECT count(*) FROM annotations WHERE source='human'").fetchone()[0]
    assert (count, sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]) == (stored, "ok")


def _call(client, endpoint: str, data: list) -> str:
    """Call a Gradio event the way any HTTP client can, and return its event stream."""
    r = client.post(f"gradio_api/call/{endpoint}", json={"data": data})
    assert r.status_code == 200, r.text
    return client.get(f"gradio_api/call/{endpoint}/{r.json()['event_id']}").text


def test_an_event_cannot_be_handed_a_server_path_as_an_uploaded_file(team_studio):
    """A request may name any path as a "file" input; Gradio must refuse those it did not
    receive as uploads (the database above all), whoever asks."""
    studio, allowed, _ = team_studio
    db = studio.data_dir / "emostudio.db"
    for name in ("vic", "ann"):
        client = signed_in_client(studio.url, name, PASSWORDS[name])
        for path in (db, allowed / "inside.wav"):
            stream = _call(
                client, "uploaded", [[{"path": str(path), "meta": {"_type": "gradio.FileData"}}], "", "", "", ""]
            )
            assert "event: error" in stream, stream
    copies = [p for p in (studio.data_dir.parent / "gradio").rglob("*") if p.is_file()]
    assert not any(p.read_bytes()[:15] == b"SQLite format 3" for p in copies)
    media = signed_in_client(studio.url, "vic", PASSWORDS["vic"]).get("api/media").json()
    assert all(m["name"] != "inside.wav" or m["status"] for m in media)
    assert not any(m["name"] == "emostudio.db" for m in media)


def test_a_disabled_user_is_signed_out_at_once(team_studio):
    studio, *_ = team_studio
    tim = signed_in_client(studio.url, "tim", PASSWORDS["tim"])
    assert tim.get("api/whoami").json()["name"] == "tim"
    assert _cli(studio.data_dir, "users", "disable", "tim").returncode == 0
    for url in ("api/whoami", "config", "gradio_api/info", "gradio_api/heartbeat/x"):
        assert tim.get(url).status_code == 401, url
    assert tim.post("gradio_api/cancel", json={"event_id": "x", "session_hash": "y", "fn_index": 0}).status_code == 401
    assert (
        signed_in_client(studio.url).post("login", data={"username": "tim", "password": PASSWORDS["tim"]}).status_code
        == 400
    )


def test_the_command_line_never_writes_over_the_database(tmp_path):
    data = tmp_path / "data"
    assert _cli(data, "ls").returncode == 0
    before = (data / "emostudio.db").read_bytes()[:100]
    for command in (["export", "--clips", str(data / "emostudio.db")], ["backup", str(data / "emostudio.db-wal")]):
        out = _cli(data, *command)
        assert out.returncode == 2 and "that is the studio's own database" in out.stderr
    assert (data / "emostudio.db").read_bytes()[:100] == before
