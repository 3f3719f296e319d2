"""The README's benchmark paragraphs, written from the results files (never typed):

    python -m bench.readme     # rewrite each block between its markers in README.md

``tests/test_docs.py`` checks that README.md holds exactly what this writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start(name: str) -> str:
    return f"<!-- bench:{name} (written by `python -m bench.readme` from bench/results/) -->"


def end(name: str) -> str:
    return f"<!-- /bench:{name} -->"


def _figures(name: str) -> dict:
    return json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())


def speed() -> str:
    sp = _figures("speed")
    f = sp["figures"]
    ten, video, hour = (
        f["10-min speech, audio model"],
        f["2-min talking face, audio + face"],
        f["1-hour speech, audio model"],
    )
    asr = f["10-min speech, audio + ASR text"]
    return " ".join(
        [
            f"Measured on 2 CPU cores (`bench/results/speed.json`, {sp['date']}, {sp['commit']}):",
            f"a 10-minute speech file with the audio model runs at {ten['x_real_time']:.0f}x real time",
            f"({ten['peak_rss_mb']:,.0f} MB peak), a 2-minute talking-face video with audio + face at",
            f"{video['x_real_time']:.0f}x, and a 1-hour file at {hour['x_real_time']:.0f}x with a",
            f"{hour['peak_rss_mb']:,.0f} MB peak. Whisper tiny.en speech recognition, used only when a media has",
            "no transcript and only on its speech, is slower: the same 10 minutes with audio +",
            f"recognised text run at {asr['x_real_time']:.1f}x real time. Give sidecar transcripts or pass",
            "`--no-asr` for large batches.",
        ]
    )


def _table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| scenario | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])


def long_media_and_robustness() -> str:
    lm = _figures("long_media")
    rb = _figures("robustness")
    cases = lm["figures"]["cases"]
    sil = cases["2-hour near-silence, default path (ASR on)"]
    sp = cases["2-hour speech, --no-asr"]
    s20 = cases["20-minute speech, default path (ASR on)"]
    kw, ks, kj, ld = (
        rb["figures"][k] for k in ("kill_worker_mid_job", "kill_server_mid_save", "kill_server_mid_job", "load")
    )
    saves = ld["attempted"] // ld["clients"]
    rows = [
        (
            "worker killed (SIGKILL) in the middle of an analysis job",
            f"restarted; the job resumed after {kw['resumed_after_s']:.1f} s and finished ({kw['media_analysed']} of "
            f"{kw['media']} media analysed, {kw['media_stuck_analysing']} left `analysing`)",
        ),
        (
            "server killed while 4 clients saved corrections",
            f"{ks['acknowledged_and_stored']:,} of {ks['acknowledged']:,} acknowledged saves stored after the restart "
            f"({ks['lost']} lost)",
        ),
        (
            "server killed while its worker analysed",
            f"{kj['jobs_stuck']} jobs and {kj['media_stuck_analysing']} media left stuck; all done "
            f"{kj['all_done_after_s']:.0f} s after the kill",
        ),
        (
            f"{ld['clients']} signed-in clients x {saves} saves through the JSON API, at once, while the worker analyses",
            f"{ld['stored']:,} / {ld['attempted']:,} stored; p50 {ld['p50_ms']:.1f} ms, p95 {ld['p95_ms']:.1f} ms",
        ),
    ]
    return f"""`bench/long_media.py` runs `emostudio analyze` as a user would (fresh process, cold
caches, default path) and writes `bench/results/long_media.json` ({lm["date"]}, {lm["commit"]});
goal: under 2 GB for any length. A 2-hour near-silent file takes {sil["seconds"]:.0f} s and
{sil["peak_rss_mb"]:,} MB at its peak (speech recognition finds nothing to hear), 2 hours of speech
with `--no-asr` {sp["seconds"]:.0f} s and {sp["peak_rss_mb"]:,} MB, and 20 minutes of speech with speech
recognition {s20["seconds"]:.0f} s and {s20["peak_rss_mb"]:,} MB.

`bench/robustness.py` runs `emostudio serve` in its own process and measures it from
outside (`bench/results/robustness.json`, {rb["date"]}, {rb["commit"]}):

{_table(rows)}"""


def gpu() -> str:
    g = _figures("gpu_check")
    f = g["figures"]
    return f"""Checked on a lent {f["gpu"]} (`python -m bench.gpu_check`, `bench/results/gpu_check.json`, {g["date"]}):
with `device = "auto"` the models land on `{f["chunk_model_on"]}`; the shipped chunk model's outputs
there differ from the CPU's by at most {f["chunk_model_max_abs_diff"]:.1e} (log-probability) and the face
model's by {f["face_model_max_abs_diff"]:.1e}; a 3-epoch training run on 512 synthetic clips took
{f["train_seconds_setting"]:.1f} s on the GPU against {f["train_seconds_cpu"]:.1f} s on that machine's 16 CPU cores, and
handed back a CPU model either way."""


BLOCKS = {"speed": speed, "long_media+robustness": long_media_and_robustness, "gpu": gpu}


def block(name: str) -> str:
    return f"{start(name)}\n{BLOCKS[name]()}\n{end(name)}"


def current(readme: str, name: str) -> str | None:
    match = re.search(re.escape(start(name)) + r".*?" + re.escape(end(name)), readme, flags=re.S)
    return match.group(0) if match else None


def main() -> None:
    path = ROOT / "README.md"
    text = path.read_text()
    for name in BLOCKS:
        old = current(text, name)
        if old is None:
            raise SystemExit(f"README.md has no {start(name)!r} ... {end(name)!r} block")
        text = text.replace(old, block(name))
    path.write_text(text)
    print("README.md: benchmark blocks rewritten from bench/results/")


if __name__ == "__main__":
    main()
