"""Hour-long media and a 10,000-clip library: the figures issue 15 asks for, printed and
written to ``bench/results/scale.json``.

    python -m bench.scale [--data ../shared/data] [--workdir /tmp/emostudio-scale]
                          [--clips 10000] [--part hour|library|both]

**An hour of speech** (RAVDESS + EmoDB clips back to back, ``bench.speed.build_speech``):

- ``emostudio analyze --no-asr`` in a fresh process: time and peak RSS (goal < 2 GB);
  speech recognition is left out because at this machine's speed it alone takes about a
  quarter of an hour per hour (``bench.long_media`` measures its memory);
- the size on disk of its predictions: the chunk file, and the database's rows;
- opening it on the Inspect page and zooming to a 30 s window (goal < 0.5 s each): on
  the server (the page's service call and both figures, median of repeats in one warm
  process) and in the browser (Chromium, from the click to the figure drawn).

**A library of ``--clips`` short clips** (2 s excerpts of the same corpora's speech),
imported with voice activity detection and analysed by a tiny untrained model (the
library's speed does not depend on the model's size): import throughput, time of a
library page, of a page deep into it, of a filter, of "next most uncertain" (goal
< 200 ms each, median of repeats), export of all chunk predictions (rows per second),
and the size of the database and of the chunk files.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.ui import timed as ui_timed

RSS_GOAL_MB, INSPECT_GOAL_S, LIBRARY_GOAL_MS = 2048, 0.5, 200
CHROMIUM = Path("/usr/bin/chromium")
CLICKED = "document.addEventListener('pointerdown', () => { window.__esDown = performance.now(); }, true);"
DRAWN = """([sel, wider, than, overview]) => new Promise((resolve, reject) => {
    const limit = performance.now() + 60000;
    const check = () => {
        const r = document.querySelector(sel)?._fullLayout?.xaxis?.range;
        const drawn = !!r && (wider ? r[1] - r[0] > than : r[1] - r[0] < than);
        const whole = !overview || !!document.querySelector("#es-inspect-overview .js-plotly-plot")?._fullLayout;
        if (drawn && whole) resolve(performance.now() - window.__esDown);
        else if (performance.now() > limit) reject(new Error("the figure was not drawn within a minute"));
        else requestAnimationFrame(check);
    };
    check();
})"""


def timed(fn, repeat: int) -> dict:
    """``bench.ui.timed`` (warm call, then repeats) as median and 90th percentile."""
    median, p90 = ui_timed(fn, repeat)
    return {"median_s": round(median, 4), "p90_s": round(p90, 4)}


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


# -- an hour of speech -------------------------------------------------------------------


def analyse_in_child(path: Path, data: Path) -> dict:
    """``emostudio analyze`` in a child of a fresh process: its peak RSS is ours to read."""
    shutil.rmtree(data, ignore_errors=True)
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data)}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "emostudio.cli", "analyze", str(path), "--out", str(data / "p.csv"), "--no-asr"],
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - t0
    return {
        "seconds": round(wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


def hour(args) -> dict:
    from bench.speed import build_speech
    from emostudio.core.config import Settings
    from emostudio.features import FeatureCache
    from emostudio.services.inspect import load_clip_view, move_window
    from emostudio.services.store import open_repository
    from emostudio.ui.figure import curves_figure, overview_figure

    audio = build_speech(args.data, 3600, args.workdir / "speech_1h.flac")
    data = args.workdir / "data-hour"
    out = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--analyse", str(audio), "--into", str(data)],
        check=True,
        capture_output=True,
        text=True,
    )
    analysis = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"1-hour analysis: {analysis['seconds']} s, {analysis['peak_rss_mb']} MB peak", flush=True)
    settings = Settings(data_dir=data)
    repo = open_repository(settings)
    (entry,), _ = repo.media_page(None, limit=1)  # the hour, alone in its data folder
    media = entry.media
    cache = FeatureCache(settings.cache_dir / "features")
    version = repo.active_model_version().id
    (chunk_file,) = repo.chunk_files(version, media.id)
    import sqlite3

    con = sqlite3.connect(data / "emostudio.db")
    rows = con.execute("SELECT COUNT(*) FROM predictions WHERE media_id = ?", (media.id,)).fetchone()[0]
    con.close()
    storage = {
        "chunks": chunk_file.chunks,
        "chunk_file_bytes": chunk_file.stored.size_bytes,
        "prediction_rows": rows,
        "database_bytes": (data / "emostudio.db").stat().st_size,
    }
    print(f"its predictions: {storage}", flush=True)

    def open_page():
        view = load_clip_view(repo, media.id, cache=cache)
        curves_figure(view), overview_figure(view)
        return view

    view = open_page()

    def zoom():
        moved = move_window(repo, view, 1800.0, 30.0, cache)
        curves_figure(moved), overview_figure(moved)

    server = {"open_inspect": timed(open_page, args.repeat), "zoom_to_30s": timed(zoom, args.repeat)}
    print(f"server: open {server['open_inspect']}, zoom {server['zoom_to_30s']}", flush=True)
    from emostudio.services.ingest import import_paths

    short = build_clips(args.data, 1, args.workdir / "one-clip")[0]  # the media opened between two opens
    import_paths(repo, [short])
    browser = browser_times(data, media.name, args.browser_repeat, short.name) if CHROMIUM.exists() else None
    print(f"browser: {browser}", flush=True)
    met = {
        "peak_rss": analysis["peak_rss_mb"] < RSS_GOAL_MB,
        "server": all(v["median_s"] < INSPECT_GOAL_S for v in server.values()),
        "browser": browser is not None
        and all(browser[k]["median_s"] < INSPECT_GOAL_S for k in ("open_inspect", "zoom_to_30s")),
    }
    return {
        "media_seconds": round(media.duration, 1),
        "analysis_no_asr": analysis,
        "storage": storage,
        "server": server,
        "browser": browser,
        "goals": {"peak_rss_mb": RSS_GOAL_MB, "seconds": INSPECT_GOAL_S},
        "met": met,
    }


def browser_times(data: Path, name: str, repeat: int, other: str) -> dict:
    """In Chromium at 1280x800 (a studio without a worker): from the click that chooses
    the media to its figures drawn, and from the click on "30 s" to the figure showing
    30 s, both timed in the page (``performance.now()`` from the pointer going down to the
    first animation frame where the figure is there), so Playwright's own checks before a
    click are not counted. The first open of a fresh page also loads the plotting library;
    the others alternate with a short clip (``other``), the way a person goes from one
    media to the next."""
    from playwright.sync_api import sync_playwright

    from emostudio.testing import StudioProcess

    plot = "#es-inspect-plot .js-plotly-plot"
    opened, zoomed = [], []
    with StudioProcess(data, worker=False) as studio, sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1280, "height": 800})
        page.add_init_script(CLICKED)

        def shown(wider: bool, than: float, overview: bool = False) -> float:
            """Seconds from the last pointer-down to the frame where the figure shows the
            range asked for (and the overview of a long media)."""
            return page.evaluate(DRAWN, [plot, wider, than, overview]) / 1000

        def choose(media: str) -> None:
            page.locator("#es-inspect-picker input").click()
            option = page.get_by_role("option", name=media, exact=False)
            option.wait_for()
            option.click()

        page.goto(studio.url)
        page.get_by_role("tab", name="Inspect").click()
        choose(name)
        first = shown(True, 100, overview=True)
        for _ in range(repeat):
            choose(other)
            shown(False, 10)
            choose(name)
            opened.append(shown(True, 100, overview=True))
            page.get_by_label("30 s").check()
            zoomed.append(shown(False, 31))
            page.get_by_label("2 min").check()  # back, for the next round
            shown(True, 100)
        b.close()

    def stats(xs):
        xs = sorted(xs)
        return {"median_s": round(statistics.median(xs), 3), "p90_s": round(xs[math.ceil(0.9 * len(xs)) - 1], 3)}

    return {
        "open_inspect": stats(opened),
        "zoom_to_30s": stats(zoomed),
        "first_open_of_a_fresh_page_s": round(first, 3),
    }


# -- a large library ---------------------------------------------------------------------


def build_clips(data: Path, n: int, folder: Path, seconds: float = 2.0) -> list[Path]:
    """``n`` excerpts of ``seconds`` from the corpora's speech (a fixed random draw)."""
    import soundfile as sf

    from bench.speed import SPEECH

    folder.mkdir(parents=True, exist_ok=True)
    done = sorted(folder.glob("*.wav"))
    if len(done) >= n:
        return done[:n]
    files = [f for pattern in SPEECH.values() for f in sorted(glob.glob(str(data / pattern)))]
    rng = np.random.default_rng(0)
    sources = [sf.read(f, dtype="float32")[0] for f in files[:400]]
    out = []
    for k in range(n):
        x = sources[rng.integers(len(sources))]
        length = int(seconds * 16000)
        start = int(rng.integers(max(1, len(x) - length)))
        path = folder / f"clip_{k:05d}.wav"
        sf.write(path, x[start : start + length], 16000, subtype="PCM_16")
        out.append(path)
    return out


def library(args) -> dict:
    from tqdm import tqdm

    from emostudio.core.config import Settings
    from emostudio.core.domain import Annotation, ModelVersion
    from emostudio.services.analysis import Analyzer, analyze_stored
    from emostudio.services.annotate import queue_length, uncertainty_queue
    from emostudio.services.export import export_table, write_csv
    from emostudio.services.ingest import ImportOptions, import_paths
    from emostudio.services.library import LibraryFilter, studio_page
    from emostudio.services.store import open_repository
    from emostudio.testing import tiny_model

    clips = build_clips(args.data, args.clips, args.workdir / "clips")
    data = args.workdir / "data-library"
    shutil.rmtree(data, ignore_errors=True)
    settings = Settings(data_dir=data)
    repo = open_repository(settings)
    t0 = time.perf_counter()
    report = import_paths(repo, clips, options=ImportOptions(vad=True))
    imported_s = time.perf_counter() - t0
    print(f"imported {len(report.added)} clips in {imported_s:.0f} s", flush=True)
    folder = tiny_model(data / "models" / "tiny")
    repo.add_model_version(ModelVersion("tiny", "emotion", str(folder)))
    repo.activate_model_version("tiny")
    analyzer = Analyzer.load(folder, "tiny", asr=False)
    t0 = time.perf_counter()
    for media in tqdm(report.added, desc="analyse", unit="clip", mininterval=30):
        analyze_stored(repo, analyzer, media)
    analysed_s = time.perf_counter() - t0
    print(f"analysed them in {analysed_s:.0f} s (the tiny model, captions included)", flush=True)
    # someone worked through part of the queue: "next most uncertain" skips what they did
    for p in repo.uncertain_segments("tiny", "", limit=300):
        repo.add_annotation(
            Annotation(None, p.media_id, "human", "ana", label="neutral", start=p.start, duration=p.duration)
        )
    deep = max(0, len(report.added) // 50 - 2)
    common = _common_label(repo)
    queries = {
        "library_page": lambda: studio_page(repo),
        "library_page_deep_sorted_by_name": lambda: studio_page(repo, page=deep, sort="name"),
        "filter_top_emotion_not_annotated": lambda: studio_page(
            repo, LibraryFilter(top_emotion=common, annotated="no")
        ),
        "filter_name": lambda: studio_page(repo, LibraryFilter(text="clip_07")),
        "next_most_uncertain": lambda: (uncertainty_queue(repo, "ana", "margin", limit=1), queue_length(repo, "ana")),
        "next_most_uncertain_balanced": lambda: uncertainty_queue(repo, "ana", "balanced", limit=1),
    }
    times = {name: timed(fn, args.repeat) for name, fn in queries.items()}
    for name, t in times.items():
        print(f"{name:40} {t['median_s'] * 1000:7.1f} ms median, {t['p90_s'] * 1000:7.1f} ms p90", flush=True)
    t0 = time.perf_counter()
    columns, rows = export_table(repo, "chunks")
    exported = write_csv(args.workdir / "chunks.csv", rows, columns)
    export_s = time.perf_counter() - t0
    print(f"exported {exported} chunk rows in {export_s:.1f} s", flush=True)
    with repo.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes = {
        "database_bytes": (data / "emostudio.db").stat().st_size,
        "chunk_files_bytes": folder_bytes(settings.arrays_dir),
    }
    return {
        "clips": len(report.added),
        "import": {"seconds": round(imported_s, 1), "clips_per_second": round(len(report.added) / imported_s, 1)},
        "analysis_tiny_model": {
            "seconds": round(analysed_s, 1),
            "clips_per_second": round(len(report.added) / analysed_s, 1),
        },
        "queries": times,
        "export_chunks": {
            "rows": exported,
            "seconds": round(export_s, 1),
            "rows_per_second": round(exported / export_s),
        },
        "sizes": sizes,
        "goal_ms": LIBRARY_GOAL_MS,
        "met": all(t["median_s"] * 1000 < LIBRARY_GOAL_MS for t in times.values()),
    }


def _common_label(repo) -> str:
    """The top emotion of the most clips (the tiny model's favourite): the filter that keeps most."""
    entries, _ = repo.media_page("tiny", limit=500)
    labels = [e.top_label for e in entries if e.top_label]
    return max(set(labels), key=labels.count)


def main(argv: list[str] | None = None) -> None:
    from bench.results import write_results

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--workdir", default=Path("/tmp/emostudio-scale"), type=Path)
    parser.add_argument("--clips", default=10_000, type=int)
    parser.add_argument("--part", default="both", choices=("hour", "library", "both"))
    parser.add_argument("--repeat", default=20, type=int)
    parser.add_argument("--browser-repeat", default=5, type=int)
    parser.add_argument("--analyse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.analyse:
        print(json.dumps(analyse_in_child(args.analyse, args.into)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    previous = Path(__file__).parent / "results" / "scale.json"
    figures = {}
    if previous.exists():  # the part not run now keeps its figures and where they came from
        earlier = json.loads(previous.read_text())
        figures = earlier["figures"]
        for part in figures.values():
            part.setdefault("run", {k: earlier[k] for k in ("command", "commit", "date", "machine")})
    from emostudio.core.provenance import provenance

    # each part carries where it comes from: a later run of one part keeps the other's
    if args.part in ("hour", "both"):
        figures["hour"] = {**hour(args), "run": provenance("bench.scale")}
    if args.part in ("library", "both"):
        figures["library"] = {**library(args), "run": provenance("bench.scale")}
    print(write_results("scale", figures))


if __name__ == "__main__":
    main()
