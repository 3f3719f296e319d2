"""Peak memory and time of `emostudio analyze` on two-hour files, as a user runs it (a
fresh process each, cold caches, the default path: import with VAD, audio + face + text,
speech recognition wherever there is no transcript).

    python -m bench.long_media [--data ../shared/data] [--workdir /tmp/emostudio-long]

- 2 hours of near-silence (noise at -60 dBFS): speech recognition must cost nothing;
- 2 hours of speech (RAVDESS + EmoDB clips back to back) with `--no-asr`: the feature
  and model path over the whole length;
- 20 minutes of the same speech with speech recognition, to show its memory stays flat.

Writes ``bench/results/long_media.json``; goal: every peak under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GOAL_MB = 2048


def build_silence(seconds: float, out: Path) -> Path:
    import soundfile as sf

    if out.exists():
        return out
    rng = np.random.default_rng(0)
    with sf.SoundFile(out, "w", samplerate=16000, channels=1, format="FLAC") as f:
        for start in range(0, int(seconds * 16000), 16000 * 600):
            n = min(16000 * 600, int(seconds * 16000) - start)
            f.write((rng.standard_normal(n) * 1e-3).astype(np.float32))
    return out


def measure(path: Path, *extra: str) -> dict:
    """Run `emostudio analyze` on ``path`` in a child of this (fresh) process; its peak RSS
    is this process's RUSAGE_CHILDREN maximum."""
    data = path.parent / f"data-{path.stem}-{'-'.join(e.strip('-') for e in extra) or 'default'}"
    shutil.rmtree(data, ignore_errors=True)  # cold: no database, feature cache or transcript from an earlier run
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data)}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "emostudio.cli", "analyze", str(path), "--out", str(data / "p.csv"), *extra],
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": round(wall, 1), "peak_rss_mb": round(peak)}


def main(argv: list[str] | None = None) -> None:
    from bench.results import write_results
    from bench.speed import build_speech

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--workdir", default=Path("/tmp/emostudio-long"), type=Path)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, *args.extra.split())))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    silence = build_silence(7200, args.workdir / "silence_2h.flac")
    speech = build_speech(args.data, 7200, args.workdir / "speech_2h.flac")
    speech20 = build_speech(args.data, 1200, args.workdir / "speech_20min.flac")
    cases = [
        ("2-hour near-silence, default path (ASR on)", silence, ()),
        ("2-hour speech, --no-asr", speech, ("--no-asr",)),
        ("20-minute speech, default path (ASR on)", speech20, ()),
    ]
    figures = {}
    for label, path, extra in cases:
        out = subprocess.run(
            [sys.executable, "-m", "bench.long_media", "--measure", str(path), f"--extra={' '.join(extra)}"],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["media_seconds"] = 7200 if "2-hour" in label else 1200
        r["under_goal"] = r["peak_rss_mb"] < GOAL_MB
        figures[label] = r
        print(f"{label:45} {r['seconds']:8.1f} s  {r['peak_rss_mb']:6d} MB peak", flush=True)
    from emostudio.core.config import get_settings

    asr_model = get_settings().asr_model  # the recogniser the "ASR on" cases measured
    print(write_results("long_media", {"goal_mb": GOAL_MB, "cases": figures, "asr_model": asr_model}))


if __name__ == "__main__":
    main()
