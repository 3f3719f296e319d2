"""The README's benchmark paragraphs, written from the results files (never typed):

    python -m bench.readme     # rewrite the block between the markers in README.md

``tests/test_docs.py`` checks that README.md holds exactly what this writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- bench:long_media+robustness (written by `python -m bench.readme` from bench/results/) -->"
END = "<!-- /bench -->"


def _figures(name: str) -> dict:
    return json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())


def block() -> str:
    lm = _figures("long_media")
    rb = _figures("robustness")
    cases = lm["figures"]["cases"]
    sil = cases["2-hour near-silence, default path (ASR on)"]
    sp = cases["2-hour speech, --no-asr"]
    s20 = cases["20-minute speech, default path (ASR on)"]
    kw, ks, kj, ld = (rb["figures"][k] for k in ("kill_worker_mid_job", "kill_server_mid_save", "kill_server_mid_job", "load"))
    return f"""{START}
`bench/long_media.py` runs `emostudio analyze` as a user would (fresh process, cold
caches, default path) and writes `bench/results/long_media.json` ({lm['date']}, {lm['commit']});
goal: under 2 GB for any length. A 2-hour near-silent file takes {sil['seconds']:.0f} s and
{sil['peak_rss_mb']:,} MB at its peak (speech recognition finds nothing to hear), 2 hours of speech
with `--no-asr` {sp['seconds']:.0f} s and {sp['peak_rss_mb']:,} MB, and 20 minutes of speech with speech
recognition {s20['seconds']:.0f} s and {s20['peak_rss_mb']:,} MB.

`bench/robustness.py` runs `emostudio serve` in its own process and measures it from
outside (`bench/results/robustness.json`, {rb['date']}, {rb['commit']}):

| scenario | result |
|---|---|
| worker killed (SIGKILL) in the middle of an analysis job | restarted; the job resumed after {kw['resumed_after_s']:.1f} s and finished ({kw['media_analysed']} of {kw['media']} media analysed, {kw['media_stuck_analysing']} left `analysing`) |
| server killed while 4 clients saved corrections | {ks['acknowledged_and_stored']:,} of {ks['acknowledged']:,} acknowledged saves stored after the restart ({ks['lost']} lost) |
| server killed while its worker analysed | {kj['jobs_stuck']} jobs and {kj['media_stuck_analysing']} media left stuck; all done {kj['all_done_after_s']:.0f} s after the kill |
| {ld['clients']} signed-in clients x {ld['attempted'] // ld['clients']} saves through the JSON API, at once, while the worker analyses | {ld['stored']:,} / {ld['attempted']:,} stored; p50 {ld['p50_ms']:.1f} ms, p95 {ld['p95_ms']:.1f} ms |
{END}"""


def current(readme: str) -> str | None:
    match = re.search(re.escape(START) + r".*?" + re.escape(END), readme, flags=re.S)
    return match.group(0) if match else None


def main() -> None:
    path = ROOT / "README.md"
    text = path.read_text()
    old = current(text)
    if old is None:
        raise SystemExit(f"README.md has no {START!r} ... {END!r} block")
    path.write_text(text.replace(old, block()))
    print("README.md: benchmark block rewritten from bench/results/")


if __name__ == "__main__":
    main()
