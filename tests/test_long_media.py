"""A media longer than ``FULL_VIEW`` (11 minutes here, analysed for real): it opens as an
overview of the whole media and a window at full resolution, and neither opening nor
moving the window reads its whole chunk arrays; in the browser, a click on the overview
moves the window and the player there."""

from __future__ import annotations

import os
import subprocess
import sys

import plotly.graph_objects as go
import pytest
from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, PLOT, REPO_ROOT, require_chromium

from emostudio.core.config import Settings
from emostudio.features import FeatureCache, FeatureInput, get_extractor
from emostudio.services.inspect import DEFAULT_WINDOW, FULL_VIEW, load_clip_view, move_window
from emostudio.services.store import open_repository
from emostudio.testing import StudioProcess, speech, write_audio
from emostudio.ui.figure import array_values, curves_figure, overview_figure

MINUTES = 11


@pytest.fixture(scope="module")
def long_media(tmp_path_factory):
    """A data folder holding one analysed 11-minute speech file."""
    root = tmp_path_factory.mktemp("long")
    path = write_audio(root / "long talk.flac", speech(MINUTES * 60))
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(root / "data")}
    out = subprocess.run(
        [sys.executable, "-m", "emostudio.cli", "analyze", str(path), "--out", str(root / "p.csv"), "--no-asr"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "analyse: 100%" in out.stderr and f"{MINUTES * 60}/{MINUTES * 60}" in out.stderr  # progress in seconds
    return root / "data"


def test_a_long_media_opens_as_an_overview_and_a_window_without_reading_all_of_it(long_media, monkeypatch):
    settings = Settings(data_dir=long_media)
    repo = open_repository(settings)
    cache = FeatureCache(settings.cache_dir / "features")
    (summary,) = repo.list_media()
    media = summary.media
    assert media.duration > FULL_VIEW
    reads = []
    real_read = repo.chunk_store.read

    def read(stored, start=None, end=None, overview=False):
        reads.append((start, end, overview))
        return real_read(stored, start, end, overview)

    monkeypatch.setattr(repo.chunk_store, "read", read)
    view = load_clip_view(repo, media.id, cache=cache)
    moved = move_window(repo, view, 400.0, 30.0, cache)
    assert all(overview or start is not None for start, end, overview in reads), reads  # never the whole file
    monkeypatch.undo()

    whole = repo.chunk_series(media.id, view.clip.model_version_id)  # what a whole read gives, to compare
    assert view.window == (0.0, DEFAULT_WINDOW) and view.chunks == whole.window(0.0, DEFAULT_WINDOW).predictions()
    assert moved.window == (385.0, 415.0) and moved.chunks == whole.window(385.0, 415.0).predictions()
    assert len(view.overview) <= 1_000 and view.overview.start[0] == 0.0
    assert view.overview.end == pytest.approx(media.duration)
    assert view.overview.column("arousal").mean() == pytest.approx(whole.column("arousal").mean(), abs=0.01)
    envelope, rate = view.waveform
    assert len(envelope) * (1 / rate) == pytest.approx(media.duration, abs=1.0) and len(envelope) <= 2_000
    assert moved.peaks_start == 385.0 and len(moved.peaks) == 30 * moved.peaks.frame_rate
    full = cache.load(get_extractor("waveform-peaks"), FeatureInput(media))
    first = int(385.0 * full.frame_rate)
    assert (moved.peaks.values == full.values[first : first + len(moved.peaks)]).all()
    overview, window = overview_figure(view), curves_figure(moved)
    go.Figure(overview), go.Figure(window)  # built as plain dicts: plotly knows every property
    assert window["layout"]["xaxis4"]["range"] == [385.0, 415.0]
    assert overview["layout"]["xaxis3"]["range"] == [0, media.duration]
    arousal = next(t for t in overview["data"] if t.get("name") == "arousal")
    assert array_values(arousal["y"]) == pytest.approx(view.overview.column("arousal"), abs=1e-6)


@pytest.mark.browser
def test_clicking_the_overview_moves_the_window_and_the_player(long_media):
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    with StudioProcess(long_media, worker=False) as studio, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(studio.url)
        page.get_by_role("tab", name="Inspect").click()
        page.locator("#es-inspect-picker input").click()
        page.get_by_role("option", name="long talk.flac", exact=False).click()
        overview = "#es-inspect-overview .js-plotly-plot"
        page.wait_for_selector(overview, timeout=30_000)

        def shown() -> list[float]:
            return page.evaluate(
                "(sel) => document.querySelector(sel)._fullLayout.xaxis.range", PLOT.format(page="inspect")
            )

        expect(page.locator("#es-inspect-plot .js-plotly-plot")).to_be_visible()
        assert shown() == pytest.approx([0.0, DEFAULT_WINDOW])
        page.locator(overview).scroll_into_view_if_needed()
        x, y = page.evaluate(
            """(sel) => { const gd = document.querySelector(sel); const xa = gd._fullLayout.xaxis;
            const r = gd.getBoundingClientRect(); return [r.left + xa._offset + xa.l2p(400), r.top + gd._fullLayout.margin.t + 20]; }""",
            overview,
        )
        page.mouse.click(x, y)
        page.wait_for_function(
            "(sel) => Math.abs(document.querySelector(sel)?._fullLayout?.xaxis?.range?.[0] - 340) < 2",
            arg=PLOT.format(page="inspect"),
            timeout=30_000,
        )
        assert shown() == pytest.approx([340.0, 460.0], abs=2)
        player_at = page.evaluate("() => document.querySelector('#es-inspect-player audio').currentTime")
        assert player_at == pytest.approx(400, abs=2)
        page.get_by_label("30 s").check()
        page.wait_for_function(
            "(sel) => { const r = document.querySelector(sel)?._fullLayout?.xaxis?.range; return !!r && r[1] - r[0] < 31; }",
            arg=PLOT.format(page="inspect"),
            timeout=30_000,
        )
        assert shown() == pytest.approx([385.0, 415.0], abs=2)
        assert not errors, errors
        browser.close()
