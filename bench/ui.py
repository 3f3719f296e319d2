"""Server time of the studio's two hot paths, on a 10-minute recording:

- opening a clip on the Inspect page (goal < 0.5 s), against the baseline of
  analysing on open (the model re-run on cached features, the audio decoded for the
  waveform), which is what the page would cost without stored predictions;
- saving a correction (goal < 100 ms): the append alone, and the whole Annotate
  callback (append + redrawing the timeline with the correction on it).

    python -m bench.ui [--data ../shared/data] [--workdir /tmp/emostudio-bench]

Each figure is the median (and 90th percentile) of repeated calls in one warm process,
the way a running studio serves them. The recording is built from EmoDB + RAVDESS
clips by bench.speed (never copied into the repo).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def timed(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm: imports, first-query compilation
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def main(argv: list[str] | None = None) -> None:
    import gradio as gr

    from bench.results import write_results
    from bench.speed import build_speech
    from emostudio.core.config import Settings
    from emostudio.features import FeatureInput, get_extractor
    from emostudio.media.decode import load_audio
    from emostudio.services.analysis import analyze_stored
    from emostudio.services.ingest import import_paths
    from emostudio.services.store import open_repository
    from emostudio.services.versions import load_analyzer
    from emostudio.ui.annotate_page import AnnotatePanel
    from emostudio.ui.context import StudioContext
    from emostudio.ui.inspect_page import InspectPanel

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--workdir", default=Path("/tmp/emostudio-bench"), type=Path)
    parser.add_argument("--repeat", default=20, type=int)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    clip = build_speech(args.data, 600, args.workdir / "speech_10min.flac")

    with tempfile.TemporaryDirectory(prefix="emostudio-bench-ui-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        repo = open_repository(settings)
        ctx = StudioContext(repo, settings)
        print(f"importing and analysing {clip.name} once (audio model, VAD segments) ...", flush=True)
        (media,) = import_paths(repo, [clip]).added
        analyzer = load_analyzer(repo, cache=ctx.feature_cache, modalities=("audio",), asr=False)
        result = analyze_stored(repo, analyzer, media)
        print(f"stored {len(result.chunks)} chunks, {len(result.segments)} segments", flush=True)

        with gr.Blocks():
            inspect, annotate = InspectPanel(ctx), AnnotatePanel(ctx)

        def open_page():  # the Inspect page's callback: the view, its tables and its figures as served
            return inspect.open(media.id)

        def open_baseline():  # no stored predictions: run the model and decode for the waveform on open
            analyzer.analyze(media)
            audio = load_audio(media.path)
            get_extractor("waveform-peaks").extract(FeatureInput(media, audio=audio))

        from emostudio.cli import freeze_startup_objects

        freeze_startup_objects()  # as `emostudio serve` does before serving
        opened = open_page()
        view = opened[inspect.view]
        unit = view.units[len(view.units) // 2]
        n = [0]

        def save_only():
            from emostudio.services.annotate import save_correction

            n[0] += 1
            save_correction(repo, media, "bench", unit.start, unit.end, "anger", corrects=unit)

        def save_callback():  # the Annotate page's "save and next": the append, the timeline redrawn
            annotate.save_label(
                view, len(view.units) // 2, "bench", "fear", unit.start, unit.end, (None,) * 3, None, None, advance=True
            )

        def save_naive():  # the alternative: append, then reopen the whole clip on the Annotate page
            save_only()
            annotate.open(media.id)

        rows = [
            ("open a 10-min clip (stored predictions)", timed(open_page, args.repeat), 0.5),
            ("  baseline: analyse on open (features cached)", timed(open_baseline, max(3, args.repeat // 5)), None),
            ("save a correction (append)", timed(save_only, args.repeat * 5), 0.1),
            ("save and redraw (Annotate callback)", timed(save_callback, args.repeat), None),
            ("  baseline: save, reopen the clip", timed(save_naive, args.repeat), None),
        ]
        print(f"\n{'server time, 2 CPU cores':48} {'median ms':>10} {'p90 ms':>8} {'goal ms':>8}")
        for label, (median, p90), goal in rows:
            print(f"{label:48} {median * 1000:10.1f} {p90 * 1000:8.1f} {'' if goal is None else f'{goal * 1000:8.0f}'}")
        open_ms, base_ms = rows[0][1][0], rows[1][1][0]
        print(f"\nopening with stored predictions is {base_ms / open_ms:.1f}x faster than analysing on open")
        figures = {
            "clip_seconds": round(media.duration, 1),
            "chunks": len(result.chunks),
            "segments": len(result.segments),
            "repeat": args.repeat,
            "paths": {
                label.strip().removeprefix("baseline: "): {
                    "median_ms": round(median * 1000, 1),
                    "p90_ms": round(p90 * 1000, 1),
                    "goal_ms": None if goal is None else goal * 1000,
                    "baseline": label.strip().startswith("baseline"),
                }
                for label, (median, p90), goal in rows
            },
        }
        print(f"wrote {write_results('ui', figures)}")


if __name__ == "__main__":
    main()
