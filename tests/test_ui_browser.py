"""End to end in a real browser: Debian's Chromium driven by Playwright against a
studio started on a free port with its worker and a temporary data dir."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from emostudio.core.labels import BASIC
from emostudio.testing import face_picture, speech, tone, write_audio, write_av

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
REPO_ROOT = Path(__file__).resolve().parents[1]
# Screenshots land here for CI to keep (the directory is ignored by git).
ARTIFACTS = Path(os.environ.get("EMOSTUDIO_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
PLOT = "#es-{page}-plot .js-plotly-plot"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_chromium() -> None:
    """Skip without Debian's Chromium, unless CI says it must be there."""
    if not CHROMIUM.exists():
        if os.environ.get("EMOSTUDIO_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    require_chromium()
    root = tmp_path_factory.mktemp("studio")
    port = _free_port()
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(root / "data"), "EMOSTUDIO_WORKER_POLL_SECONDS": "0.3"}
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "emostudio.cli", "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail("studio did not start:\n" + (root / "server.log").read_text())
            time.sleep(0.5)
    yield url, root
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _plot_traces(page, which: str) -> list[dict]:
    return page.evaluate(
        "(sel) => document.querySelector(sel)._fullData.map(t => ({name: t.name, n: (t.y || []).length}))",
        PLOT.format(page=which),
    )


def _plot_point(page, which: str, t: float) -> tuple[float, float]:
    """Where on screen time ``t`` is, on the figure's top row."""
    return tuple(
        page.evaluate(
            """([sel, t]) => { const gd = document.querySelector(sel); const xa = gd._fullLayout.xaxis;
        const r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(t), r.top + gd._fullLayout.margin.t + 60]; }""",
            [PLOT.format(page=which), t],
        )
    )


def test_upload_analyse_inspect_correct_by_keyboard_and_export(studio, browser, tmp_path):
    from playwright.sync_api import expect

    url, root = studio
    clip = write_av(
        tmp_path / "interview.mp4", video_seconds=6.0, size=(256, 256), picture=face_picture(), audio=speech(6.0)
    )
    page = browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(url)

    # Library: drop the clip; the worker analyses it and the table follows
    page.locator("#es-upload input[type=file]").set_input_files(str(clip))
    expect(page.locator("#es-import-report")).to_contain_text("1 media added", timeout=60_000)
    row = page.locator("#es-library tr", has_text="interview.mp4")
    expect(row).to_contain_text("analysed", timeout=180_000)

    # Inspect: clicking the row opens the clip with its curves
    page.locator("#es-library").get_by_role("gridcell", name="interview.mp4").click()
    page.wait_for_selector(PLOT.format(page="inspect"), timeout=30_000)
    traces = _plot_traces(page, "inspect")
    names = {t["name"] for t in traces}
    assert {"arousal", "valence", "dominance", *BASIC, "waveform"} <= names
    arousal = next(t for t in traces if t["name"] == "arousal")
    assert arousal["n"] == 24  # 6 s in 0.25 s chunks
    assert page.locator("#es-inspect-player video").get_attribute("src").startswith("media/")
    expect(page.locator("#es-inspect-faces img").first).to_be_visible()  # face thumbnails saved at analysis
    # clicking the figure selects the segment under the click and moves the player there
    title = page.locator("#es-inspect-unit-title")
    expect(title).to_contain_text("Selected segment 1 of")
    start, end = (float(x) for x in title.inner_text().split(":")[1].split(" s")[0].split("–"))
    t = end + 0.6  # into the second segment: the sentence starts again after a short pause
    page.mouse.click(*_plot_point(page, "inspect", t))
    expect(title).to_contain_text("Selected segment 2 of")
    expect(title).to_contain_text(" s (chunk")  # and the chunk under the click, within a pixel or two
    assert float(re.search(r"at ([\d.]+) s \(chunk", title.inner_text()).group(1)) == pytest.approx(t, abs=0.025)
    assert page.evaluate("() => document.querySelector('#es-inspect-player video').currentTime") == pytest.approx(
        t, abs=0.1
    )
    # choosing the open clip again, then clicking beside the picker, leaves the page as it is (Gradio's
    # dropdown sends its input event twice per click and again on losing focus: each used to reopen it)
    page.evaluate("() => { document.querySelector('#es-inspect-player video').dataset.kept = 'yes'; }")
    page.locator("#es-inspect-picker input").click()
    page.get_by_role("option", name="interview.mp4", exact=False).click()
    title.click()
    page.wait_for_timeout(2000)  # a reopen takes well under a second here
    expect(title).to_contain_text("Selected segment 2 of")
    assert page.locator("#es-inspect-player video").get_attribute("data-kept") == "yes"
    # beside it, what each modality contributed to that segment's emotions, adding up to the fused score
    bars = page.evaluate(
        "() => document.querySelector('#es-inspect-contributions .js-plotly-plot')._fullData"
        ".map(t => ({name: t.name, y: t.y, x: t.x}))"
    )
    assert {"audio", "face"} <= {b["name"].split(" ")[0] for b in bars}
    totals = {e: sum(b["x"][b["y"].index(e)] for b in bars) for e in BASIC}
    top = re.search(r"top (\w+)", title.inner_text()).group(1)
    assert max(totals, key=totals.get) == top and sum(totals.values()) == pytest.approx(1.0, abs=1e-3)
    # the segment's emotions ranked, best first, with what audio and face alone give each
    first = page.locator("#es-inspect-unit tbody tr").first.locator("td")
    assert first.all_inner_texts()[:2] == ["basic", top] and first.nth(3).inner_text() and first.nth(4).inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inspect.png"), full_page=True)

    # Annotate: name, clip, then keyboard only: -> next segment, <- back, 4 = anger, Enter = save and next
    page.get_by_role("tab", name="Annotate").click()
    page.locator("#es-annotate-annotator input, #es-annotate-annotator textarea").first.fill("tester")
    page.locator("#es-annotate-picker input").click()
    page.get_by_role("option", name="interview.mp4", exact=False).click()
    title = page.locator("#es-annotate-unit-title")
    expect(title).to_contain_text("Selected segment 1 of", timeout=30_000)
    first_span = title.inner_text().split(":")[1].split(",")[0].strip()
    page.locator("#es-annotate-unit-title").click()  # focus off the name box: keys go to the page
    page.keyboard.press("ArrowRight")
    expect(title).to_contain_text("Selected segment 2 of")
    page.keyboard.press("ArrowLeft")
    expect(title).to_contain_text("Selected segment 1 of")
    page.keyboard.press("ArrowLeft")  # already the first: nothing happens, and no error shows
    page.keyboard.press("4")
    expect(page.locator("#es-annotate-label input[value=anger]")).to_be_checked()
    page.keyboard.press("Enter")
    expect(page.locator("#es-annotate-status")).to_contain_text("Saved annotation")
    expect(page.locator("#es-annotate-status")).to_contain_text("anger")
    expect(title).to_contain_text("Selected segment 2 of")  # and moved on
    # the correction is on the timeline at once, in the annotator's own lane, and in the review table
    expect(page.locator("#es-annotate-timeline .es-tl")).to_have_attribute("data-lanes", "tester")
    review = page.locator("#es-annotate-review").get_by_role("row", name=re.compile("tester"))
    cells = review.get_by_role("gridcell").all_inner_texts()
    assert cells[5] == "anger" and f"{float(cells[3]):.2f}" == first_span.split("–")[0]
    expect(page.locator(".toast-body, .error")).to_have_count(0)  # no error from any of it

    # Export: the annotations CSV downloaded through the page holds the correction
    page.get_by_role("tab", name="Export").click()
    page.locator("#es-export-go").click()
    link = page.locator("#es-export-files a", has_text="emostudio-annotations")
    expect(link).to_be_visible(timeout=30_000)
    with page.expect_download() as download:
        link.click()
    path = download.value.path()
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    mine = [r for r in rows if r["annotator"] == "tester"]
    assert len(mine) == 1 and mine[0]["label"] == "anger" and mine[0]["source"] == "human"
    assert mine[0]["corrects_prediction_id"] and mine[0]["model_version"].startswith("default-")
    # and for ELAN: the clip's tiers, the correction in the annotator's own tier, opened with pympi-ling
    from pympi.Elan import Eaf

    page.locator("#es-export-tool-media input").click()
    page.get_by_role("option", name="interview.mp4", exact=False).click()
    page.locator("#es-export-tool-go").click()
    link = page.locator("#es-export-tool-files a", has_text="interview.eaf")
    expect(link).to_be_visible(timeout=30_000)
    with page.expect_download() as download:
        link.click()
    eaf = Eaf(str(download.value.path()))
    (labelled,) = eaf.get_annotation_data_for_tier("labels: tester")
    assert labelled[2].startswith("anger") and f"{labelled[0] / 1000:.2f}" == first_span.split("–")[0]
    assert any(name.startswith("model: default-") for name in eaf.get_tier_names())
    page.close()
    # no telemetry, fonts or scripts from elsewhere: every request the page made stayed on this machine
    others = {u.split("/")[2] for u in requested if u.startswith("http") and not u.startswith(url)}
    assert others == set(), others


def _annotate_first_segment(page, name: str, key: str) -> None:
    """On the Annotate page: open ``name``, give its first segment the label of ``key``, save."""
    from playwright.sync_api import expect

    page.locator("#es-annotate-picker input").click()
    page.get_by_role("option", name=name, exact=False).click()
    title = page.locator("#es-annotate-unit-title")
    expect(title).to_contain_text("Selected segment 1 of", timeout=30_000)
    title.click()  # keys go to the page
    page.keyboard.press(key)
    page.keyboard.press("Enter")
    expect(page.locator("#es-annotate-status")).to_contain_text("Saved annotation")


def test_correct_finetune_compare_activate_and_inspect_the_new_version(studio, browser, tmp_path):
    """The loop the studio exists for: correct, fine-tune from the Train page, watch it,
    see the new version beside its parent, activate it, and Inspect shows its predictions."""
    from playwright.sync_api import expect

    url, root = studio
    clips = []
    for k, (gain, pitch) in enumerate(((0.9, 180.0), (0.4, 120.0))):
        signal = speech(4.0) * gain + tone(4.0, pitch) * 0.05
        clips.append(write_audio(tmp_path / f"voice{k}.wav", signal))
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(url)
    page.locator("#es-upload input[type=file]").set_input_files([str(c) for c in clips])
    for clip in clips:
        row = page.locator("#es-library").get_by_role("row", name=re.compile(re.escape(clip.name)))
        expect(row).to_contain_text("analysed", timeout=180_000)

    page.get_by_role("tab", name="Annotate").click()
    page.locator("#es-annotate-annotator input, #es-annotate-annotator textarea").first.fill("tester")
    for clip, key in zip(clips, ("4", "3")):  # anger, sadness
        _annotate_first_segment(page, clip.name, key)

    page.get_by_role("tab", name="Train").click()
    page.locator("#es-finetune").click()
    status = page.locator("#es-train-status")
    expect(status).to_contain_text("Fine-tuning queued as job", timeout=10_000)
    job = re.search(r"job (\d+)", status.inner_text()).group(1)
    # progress: the plot of loss and held-out UAR over the steps, as the epochs go by
    page.wait_for_selector("#es-train-progress .js-plotly-plot", timeout=120_000)
    row = page.locator("#es-jobs").get_by_role("row", name=re.compile(f"^{job} finetune"))
    expect(row).to_contain_text("succeeded", timeout=180_000)
    expect(page.locator("#es-train-progress")).to_contain_text("succeeded", timeout=10_000)
    losses = page.evaluate(
        "() => document.querySelector('#es-train-progress .js-plotly-plot')._fullData.map(t => t.name)"
    )
    assert {"training loss", "held-out UAR"} <= set(losses)
    # the new version beside its parent, on the same held-out spans
    version = row.get_by_role("gridcell").nth(6).inner_text().strip()
    assert version.startswith(f"finetune-job{job}-")
    expect(page.locator("#es-compare-note")).to_contain_text(f"{version} beside its parent", timeout=20_000)
    table = page.locator("#es-compare")
    for measure in ("UAR", "WA (accuracy)", "macro-F1", "ECE", "CCC arousal", "held-out spans"):
        expect(table).to_contain_text(measure)
    heatmaps = page.evaluate(
        "() => document.querySelector('#es-compare-plot .js-plotly-plot')._fullData.filter(t => t.type === 'heatmap').length"
    )
    assert heatmaps == 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "train.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})  # the README's page at a laptop's size
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "train-1280.png"))

    # activate it (the dropdown already holds the version the job made): the library is re-analysed under it
    expect(page.locator("#es-version input")).to_have_value(version, timeout=10_000)
    page.locator("#es-activate").click()
    expect(status).to_contain_text(f"Active version: {version}", timeout=10_000)
    reanalysis = re.search(r"Re-analysis queued as job (\d+)", status.inner_text()).group(1)
    analysis = page.locator("#es-jobs").get_by_role("row", name=re.compile(f"^{reanalysis} analyze"))
    expect(analysis).to_contain_text("succeeded", timeout=180_000)

    page.get_by_role("tab", name="Inspect").click()
    page.locator("#es-inspect-picker input").click()
    page.get_by_role("option", name=clips[0].name, exact=False).click()
    expect(page.locator("#es-inspect-unit-title")).to_contain_text(
        f"predictions of model version {version}", timeout=30_000
    )
    page.close()


def _sign_in(page, name: str, password: str) -> None:
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()


def test_sign_in_roles_in_the_browser(tmp_path_factory, browser):
    """With users, the page asks for sign-in; an annotator's corrections carry their login
    (no name box); a viewer sees no save button and a forced save is refused."""
    from playwright.sync_api import expect

    from emostudio.testing import StudioProcess, add_user

    root = tmp_path_factory.mktemp("team")
    data = root / "data"
    add_user(data, "ann", "annotator", "annot-pass-1")
    add_user(data, "vic", "viewer", "viewer-pass-1")
    clip = write_av(root / "clip.mp4", video_seconds=3.0, size=(128, 128), audio=speech(3.0))
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data)}
    subprocess.run(
        [sys.executable, "-m", "emostudio.cli", "analyze", str(clip), "--out", str(root / "p.csv"), "--no-asr"],
        env=env,
        check=True,
        capture_output=True,
        cwd=REPO_ROOT,
    )
    with StudioProcess(data, worker=False) as studio:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(studio.url)
        _sign_in(page, "ann", "wrong-password")
        expect(page.get_by_text("Incorrect credentials", exact=False)).to_be_visible(timeout=30_000)
        _sign_in(page, "ann", "annot-pass-1")
        expect(page.locator("#es-who")).to_contain_text("Signed in as ann (annotator)", timeout=30_000)
        page.get_by_role("tab", name="Annotate").click()
        expect(page.locator("#es-annotate-annotator")).to_be_hidden()
        page.locator("#es-annotate-picker input").click()
        page.get_by_role("option", name="clip.mp4", exact=False).click()
        expect(page.locator("#es-annotate-unit-title")).to_contain_text("Selected", timeout=30_000)
        page.locator("#es-annotate-label input[value=sadness]").check()
        page.locator("#es-annotate-save").click()
        expect(page.locator("#es-annotate-status")).to_contain_text("by ann.")
        page.goto(studio.url + "logout")
        _sign_in(page, "vic", "viewer-pass-1")
        expect(page.locator("#es-who")).to_contain_text("Signed in as vic (viewer)", timeout=30_000)
        page.get_by_role("tab", name="Annotate").click()
        expect(page.locator("#es-annotate-save")).to_be_hidden()
        expect(page.locator("#es-annotate-save-next")).to_be_hidden()
        page.close()
    repo_rows = subprocess.run(
        [sys.executable, "-m", "emostudio.cli", "export", "--annotations", str(root / "a.csv")],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert repo_rows.returncode == 0
    rows = list(csv.DictReader(open(root / "a.csv", encoding="utf-8")))
    assert [(r["annotator"], r["label"]) for r in rows] == [("ann", "sadness")]


def test_an_uploaded_flv_clip_plays_from_its_browser_playable_copy(studio, browser, tmp_path):
    """Browsers cannot play FLV: the worker makes an H.264/AAC copy at import, and the
    Inspect page's player plays it (its picture decodes and its clock moves)."""
    from playwright.sync_api import expect

    url, root = studio
    clip = write_av(tmp_path / "webcam.flv", video_seconds=4.0, size=(160, 120), audio=speech(4.0))
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(url)
    page.locator("#es-upload input[type=file]").set_input_files(str(clip))
    row = page.locator("#es-library [role=row]", has_text="webcam.flv")
    expect(row).to_contain_text("analysed", timeout=180_000)  # the copy is made first, then the analysis
    page.locator("#es-library").get_by_role("gridcell", name="webcam.flv").click()
    page.wait_for_selector("#es-inspect-player video", timeout=30_000)
    expect(page.locator("#es-inspect-proxy-pending")).to_have_count(0)
    played = page.evaluate(
        """async () => {
        const v = document.querySelector('#es-inspect-player video');
        v.muted = true;
        if (v.readyState < 2) await new Promise((ok, fail) => {
            v.addEventListener('loadeddata', ok, {once: true}); v.addEventListener('error', () => fail(String(v.error && v.error.code)), {once: true});
            v.load(); });
        await v.play();
        await new Promise(r => setTimeout(r, 1500));
        v.pause();
        return {t: v.currentTime, w: v.videoWidth, h: v.videoHeight, d: v.duration, error: v.error && v.error.code};
    }"""
    )
    assert played["error"] is None and (played["w"], played["h"]) == (160, 120)
    assert played["d"] == pytest.approx(4.0, abs=0.3) and played["t"] > 0.5
    page.close()


def test_only_the_page_shown_refreshes_itself(studio, browser):
    """The Library page refreshes every 2 s while it is shown; on another page nothing
    polls the server (those refreshes landed in the middle of opening media on Inspect)."""
    url, _ = studio
    page = browser.new_page()
    calls = []
    page.on("request", lambda r: calls.append(r.url) if "queue/join" in r.url else None)
    page.goto(url)
    page.wait_for_selector("#es-library")

    def calls_while_on(tab: str) -> int:
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(700)  # the calls choosing the tab makes (its pickers, its refresh)
        before = len(calls)
        page.wait_for_timeout(3000)
        return len(calls) - before

    assert calls_while_on("Inspect") == 0
    assert calls_while_on("Library") >= 1
    page.close()
