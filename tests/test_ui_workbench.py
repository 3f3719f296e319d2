"""The annotator's workbench in a real browser (Debian's Chromium, Playwright) at
1280x800: a continuous trace recorded with the keyboard while the clip plays, zoom that
survives a save, a range set by dragging an edge, two annotators in their own lanes with
their kappa, and a clip not analysed yet. Each page's screenshot lands in the artifacts
folder (the README's come from there)."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys

import pytest
from test_ui_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, require_chromium

from emostudio.core.labels import BASIC
from emostudio.testing import StudioProcess, face_picture, speech, write_audio, write_av

pytestmark = pytest.mark.browser
TL = "#es-annotate-timeline .es-tl"


@pytest.fixture(scope="module")
def workbench(tmp_path_factory):
    """A studio without a worker: one clip analysed beforehand, one only imported."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("workbench")
    data = root / "data"
    clip = write_av(
        root / "interview.mp4", video_seconds=6.0, size=(256, 256), picture=face_picture(), audio=speech(6.0)
    )
    pending = write_audio(root / "not yet.wav", speech(3.0))
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data)}
    for args in (["analyze", str(clip), "--out", str(root / "p.csv")], ["import", str(pending)]):
        subprocess.run(
            [sys.executable, "-m", "emostudio.cli", *args], env=env, check=True, capture_output=True, cwd=REPO_ROOT
        )
    with StudioProcess(data, worker=False) as studio, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page.goto(studio.url)
        yield page, studio
        browser.close()


def _open(page, annotator: str, name: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Annotate").click()
    box = page.locator("#es-annotate-annotator input, #es-annotate-annotator textarea").first
    box.fill(annotator)
    page.locator("#es-annotate-picker input").click()
    page.get_by_role("option", name=name, exact=False).click()
    expect(page.locator(f"{TL} .es-tl-name")).to_contain_text(name, timeout=30_000)


def _view(page) -> tuple[float, float]:
    return tuple(float(x) for x in page.locator(TL).get_attribute("data-view").split(","))


def _focus_page(page) -> None:
    page.locator("#es-annotate-unit-title").click()  # off the inputs: keys go to the shortcuts


def test_a_clip_not_analysed_yet_shows_its_player_and_analysis_pending(workbench):
    from playwright.sync_api import expect

    page, _ = workbench
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _open(page, "ana", "not yet.wav")
    expect(page.locator(f"{TL} .es-tl-message")).to_contain_text("Analysis pending")
    assert page.locator(f"{TL} .es-tl-player audio").get_attribute("src").startswith("media/")
    expect(page.locator("#es-annotate-unit-title")).to_contain_text("No predictions for this media yet")
    expect(page.locator(".toast-body, .error")).to_have_count(0)
    assert not errors


def test_zoom_survives_a_save_and_dragging_an_edge_sets_the_range(workbench):
    from playwright.sync_api import expect

    page, _ = workbench
    _open(page, "ana", "interview.mp4")
    title = page.locator("#es-annotate-unit-title")
    expect(title).to_contain_text("Selected segment 1 of")
    _focus_page(page)
    whole = _view(page)
    page.keyboard.press("+")  # zoom in around the middle
    page.keyboard.press("+")
    zoomed = _view(page)
    assert zoomed[1] - zoomed[0] == pytest.approx((whole[1] - whole[0]) / 4, abs=0.01)
    page.keyboard.press("4")  # anger
    page.locator("#es-annotate-save").click()
    expect(page.locator("#es-annotate-status")).to_contain_text("Saved annotation")
    page.wait_for_timeout(500)
    start, end = (float(x) for x in page.locator(TL).get_attribute("data-selection").split(","))
    view = _view(page)
    assert view[1] - view[0] == pytest.approx(zoomed[1] - zoomed[0], abs=0.01)  # the zoom survived the save
    assert view[0] < end and start < view[1]  # and the selection in view
    expect(page.locator(TL)).to_have_attribute("data-lanes", "ana")

    page.keyboard.press("0")  # the whole clip again: both edges on screen
    box = page.locator(f"{TL} canvas").bounding_box()
    y = box["y"] + 60
    x_end = page.evaluate(f"(t) => document.querySelector('{TL}').esTimeX(t)", end)
    target = end - 0.8
    x_to = page.evaluate(f"(t) => document.querySelector('{TL}').esTimeX(t)", target)
    page.mouse.move(x_end, y)
    page.mouse.down()
    page.mouse.move((x_end + x_to) / 2, y, steps=3)
    page.mouse.move(x_to, y, steps=3)
    page.mouse.up()
    expect(page.locator("#es-annotate-status")).to_contain_text("Range set to")
    to = float(page.locator("#es-annotate-end input").input_value())
    assert to == pytest.approx(target, abs=0.06)
    assert float(page.locator("#es-annotate-start input").input_value()) == pytest.approx(start, abs=0.002)


def test_a_continuous_trace_recorded_with_the_keyboard_is_stored_drawn_and_exported(workbench):
    from playwright.sync_api import expect

    page, _ = workbench
    _open(page, "ana", "interview.mp4")
    page.locator(f"{TL} .es-tl-rating").select_option("arousal")
    _focus_page(page)
    page.keyboard.press("0")
    page.keyboard.press(" ")  # play: the pass starts
    page.wait_for_timeout(700)
    for _ in range(5):  # up to +0.5 while it plays
        page.keyboard.press("ArrowUp")
        page.wait_for_timeout(150)
    page.wait_for_timeout(700)
    for _ in range(8):  # then down to -0.3
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(100)
    page.wait_for_timeout(700)
    page.keyboard.press(" ")  # pause: the pass is handed over
    expect(page.locator("#es-annotate-status")).to_contain_text("Saved trace", timeout=15_000)
    expect(page.locator("#es-annotate-status")).to_contain_text("arousal, pass 1")
    expect(page.locator(TL)).to_have_attribute("data-traces", "ana:arousal")  # drawn over the model's curve
    table = page.locator("#es-annotate-traces")
    expect(table).to_contain_text("ana (pass 1) & model")
    expect(table).to_contain_text("CCC")

    page.get_by_role("tab", name="Export").click()
    page.locator("#es-export-kinds").get_by_label("traces").check()
    page.locator("#es-export-go").click()
    link = page.locator("#es-export-files a", has_text="emostudio-traces")
    expect(link).to_be_visible(timeout=30_000)
    with page.expect_download() as download:
        link.click()
    rows = list(csv.DictReader(open(download.value.path(), encoding="utf-8")))
    assert {(r["annotator"], r["dimension"], r["pass"], r["media"]) for r in rows} == {
        ("ana", "arousal", "1", "interview.mp4")
    }
    values = [float(r["value"]) for r in rows]
    times = [float(r["time"]) for r in rows]
    assert len(rows) >= 15 and times == sorted(times) and times[1] - times[0] == pytest.approx(0.1, abs=0.001)
    assert values[0] == 0.0 and max(values) == pytest.approx(0.5) and values[-1] == pytest.approx(-0.3)


def _select_segment(page, index: int) -> None:
    from playwright.sync_api import expect

    title = page.locator("#es-annotate-unit-title")
    expect(title).to_contain_text("Selected segment")
    _focus_page(page)
    current = int(re.search(r"segment (\d+) of", title.inner_text()).group(1)) - 1
    while current != index:  # one step at a time, each answered before the next
        page.keyboard.press("ArrowRight" if index > current else "ArrowLeft")
        current += 1 if index > current else -1
        expect(title).to_contain_text(f"Selected segment {current + 1} of")


def _label_segment(page, index: int, key: str, who: str) -> None:
    from playwright.sync_api import expect

    _select_segment(page, index)
    page.keyboard.press(key)
    label = BASIC[int(key) - 1]
    expect(page.locator(f"#es-annotate-label input[value={label}]")).to_be_checked()
    page.locator("#es-annotate-save").click()
    expect(page.locator("#es-annotate-status")).to_contain_text(re.compile(f"{label} for .* by {who}"))


def test_two_annotators_have_their_own_lanes_and_the_agreement_table_shows_their_kappa(workbench):
    from playwright.sync_api import expect
    from sklearn.metrics import cohen_kappa_score

    page, _ = workbench
    _open(page, "ana", "interview.mp4")
    _label_segment(page, 1, "5", "ana")  # ana: segment 2 fear (segment 1 anger from the zoom test)
    _open(page, "ben", "interview.mp4")
    _label_segment(page, 0, "4", "ben")  # ben: segment 1 anger, segment 2 sadness
    _label_segment(page, 1, "3", "ben")
    expect(page.locator(TL)).to_have_attribute("data-lanes", "ana,ben")
    page.locator("#es-annotate-refresh-agreement").click()  # the library-wide tables are read on request
    agreement = page.locator("#es-annotate-agreement")
    row = agreement.get_by_role("row", name=re.compile("Cohen's kappa"))
    expect(row).to_contain_text("ana & ben")
    cells = row.get_by_role("gridcell").all_inner_texts()
    expected = cohen_kappa_score(["anger", "fear"], ["anger", "sadness"])
    assert float(cells[3]) == pytest.approx(expected, abs=1e-3) and cells[4] == "2"
    expect(page.locator("#es-annotate-disagreement")).to_contain_text("interview.mp4")
    expect(page.locator("#es-annotate-review")).to_contain_text("ben")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "annotate-1280.png"))
    for tab in ("Library", "Inspect", "Export"):  # (the Train page's is taken where a job has run)
        page.get_by_role("tab", name=tab).click()
        if tab == "Inspect":
            page.locator("#es-inspect-picker input").click()
            page.get_by_role("option", name="interview.mp4", exact=False).click()
            expect(page.locator("#es-inspect-unit-title")).to_contain_text("Selected", timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / f"{tab.lower()}-1280.png"))


def test_a_segments_caption_is_shown_edited_for_that_segment_and_exported(workbench, tmp_path):
    """The generated caption of the selected segment fills the caption box; an edit is
    saved for that segment (not the clip); the Inspect page lists it; the captions CSV
    keeps both, with the segment's span."""
    from playwright.sync_api import expect

    page, studio = workbench
    _open(page, "cara", "interview.mp4")
    box = page.locator("#es-annotate-caption textarea")
    _select_segment(page, 0)
    expect(box).not_to_have_value("", timeout=30_000)
    generated = box.input_value()
    assert re.search(r"\b(sound|seem|appear|feel|tone|mood|feeling|affect|state)", generated.lower()), generated
    _select_segment(page, 1)  # the second segment: its own caption, once the selection is answered
    expect(box).not_to_have_value(generated, timeout=10_000)
    box.fill("Tense and clipped, as if holding something back.")
    expect(box).to_have_value("Tense and clipped, as if holding something back.")
    page.locator("#es-annotate-save-caption").click()
    expect(page.locator("#es-annotate-status")).to_contain_text("Saved caption", timeout=10_000)
    whole = page.locator("#es-annotate-caption-whole input")
    whole.check()
    expect(box).not_to_have_value("Tense and clipped, as if holding something back.")
    page.get_by_role("tab", name="Inspect").click()
    page.locator("#es-inspect-picker input").click()
    page.get_by_role("option", name="interview.mp4", exact=False).click()
    expect(page.locator("#es-inspect-caption")).to_contain_text("Tense and clipped", timeout=30_000)
    expect(page.locator("#es-inspect-caption")).to_contain_text("by cara")
    out = tmp_path / "captions.csv"
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(studio.data_dir)}
    subprocess.run(
        [sys.executable, "-m", "emostudio.cli", "export", "--captions", str(out)],
        env=env,
        check=True,
        capture_output=True,
        cwd=REPO_ROOT,
    )
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    edit = [r for r in rows if r["source"] == "human"][-1]
    corrected = next(r for r in rows if r["caption_id"] == edit["corrects_caption_id"])
    assert edit["annotator"] == "cara" and edit["start"] != "" and edit["media"] == "interview.mp4"
    assert (corrected["start"], corrected["end"], corrected["source"]) == (edit["start"], edit["end"], "model")
