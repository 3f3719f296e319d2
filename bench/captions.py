"""Emotion captions: consistency, faithfulness, variety and speed.

    python -m bench.captions [--data ../shared/data] [--clips 200]

``--clips`` clips (half EmoDB, half RAVDESS speech; a fixed random draw, in a shuffled
order) from speakers outside the captioner's development speakers (on which its reward
weights were chosen) are imported into a fresh studio and analysed as the studio does it
(voice activity, speech recognition, the shipped model); analysis writes their captions.

- Consistency: each clip's caption is read back into the 7 basic emotions by zero-shot
  similarity in the MiniLM sentence space (nearest class prompt, ``phrases.PROMPTS``: the
  same rendering the reward's consistency term uses, so also with bare class names, a
  rendering it never saw); agreement with the clip's predicted label (goal >= 95%), and
  with the corpus's label beside the classifier's own accuracy (goal: within 2 points).
  The shipped classifier trained on every speaker of both corpora: its accuracy here is
  not a generalisation figure (``bench.generalisation`` has those); the point is how
  closely the captions follow it.
- Faithfulness: of the captions (clip and segment) that state a pitch, pitch-range,
  loudness, rate or pause level, the share whose stated levels all match the levels
  measured again from the stored prosody frames (goal 100%).
- Variety: distinct-2 (distinct word bigrams / all bigrams) over the clip captions (goal
  >= 0.5), and how many clips in a row got the identical sentence (goal 0).
- Speed: the time captioning takes per clip after the rest of its analysis (goal < 50 ms),
  mean, median and 95th percentile, the first clip (loading) left out.

Writes ``bench/results/captions.json``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.results import write_results
from emostudio.core.config import get_settings
from emostudio.core.labels import BASIC
from emostudio.features import FeatureCache
from emostudio.features.text import embed_texts
from emostudio.media.recipes import load_corpus
from emostudio.model.captions.attributes import speaker_baseline
from emostudio.model.captions.captioner import distinct_2, load_captioner, unit
from emostudio.model.captions.describe import shares_clip_caption, span_facts
from emostudio.model.captions.phrases import PROMPTS, VOICE_ATTRIBUTES, claims_of
from emostudio.model.network import default_model_path
from emostudio.services.analysis import Analyzer, analyze_stored
from emostudio.services.ingest import import_paths
from emostudio.services.versions import active_version
from emostudio.testing import temp_repository


def read_back(texts: list[str], renderings: dict[str, tuple[str, ...]]) -> np.ndarray:
    """The basic emotion each text reads as: the nearest class rendering (averaged, unit length)."""
    classes = np.stack([unit(embed_texts(list(renderings[c])).mean(0)) for c in BASIC])
    return (embed_texts(texts) @ classes.T).argmax(1)


def sample(data: Path, n: int, dev: set[str]) -> list:
    rng = random.Random(0)
    items = []
    for corpus in ("emodb", "ravdess"):
        pool = [it for it in load_corpus(corpus, data) if it.speaker not in dev]
        items += rng.sample(pool, n // 2)
    rng.shuffle(items)
    return items


def faithful(analysis, captions, norms) -> tuple[int, int]:
    """(captions stating a voice level, of them those whose levels all match the measure)."""
    baseline = speaker_baseline(analysis.prosody, norms) if analysis.prosody is not None else None
    stating = matching = 0
    spans = {None: analysis.clip, **{round(s.start, 3): s for s in analysis.segments}}
    for caption in captions:
        stated = {(a, lv) for a, lv in claims_of(caption.text) if a in VOICE_ATTRIBUTES}
        if not stated:
            continue
        stating += 1
        key = None if caption.start is None else round(caption.start, 3)
        span = spans[key]
        if key is not None and shares_clip_caption(span, analysis.segments, analysis.clip, baseline):
            span = analysis.clip  # it was captioned as the clip
        reference = norms if span is analysis.clip or baseline is None else baseline
        facts = span_facts(span, analysis.prosody, reference, [], [])
        matching += all(a in facts.voice and facts.voice[a].level == lv for a, lv in stated)
    return stating, matching


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--clips", default=200, type=int)
    args = parser.parse_args(argv)
    captioner = load_captioner(default_model_path())
    dev = set(captioner.metrics.get("development_speakers", []))
    items = sample(args.data, args.clips, dev)
    workdir = Path(tempfile.mkdtemp(prefix="emostudio-bench-captions-"))
    try:
        repo = temp_repository(workdir)
        active_version(repo)
        analyzer = Analyzer.load(cache=FeatureCache(get_settings().cache_dir / "features"))
        rows = []
        for item in tqdm(items, desc="analyse + caption", unit="clip"):
            (media,) = import_paths(repo, [item.path]).added
            began = time.perf_counter()
            result = analyze_stored(repo, analyzer, media)
            rows.append((item, result, time.perf_counter() - began))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    clip_captions = [r.captions[0].text for _, r, _ in rows]
    predicted = np.array([BASIC.index(r.clip.top_label) for _, r, _ in rows])
    truth = np.array([BASIC.index(it.label) for it, _, _ in rows])
    read = read_back(clip_captions, PROMPTS)
    read_names = read_back(clip_captions, {c: (c,) for c in BASIC})
    stating = matching = 0
    for _, r, _ in rows:
        s, m = faithful(r, r.captions, captioner.norms)
        stating, matching = stating + s, matching + m
    times = np.array([r.caption_seconds for _, r, _ in rows][1:]) * 1000
    classifier_acc = float(np.mean(predicted == truth))
    caption_acc = float(np.mean(read == truth))
    figures = {
        "clips": len(rows),
        "corpora": {
            "emodb": sum("emodb" in it.speaker for it, _, _ in rows),
            "ravdess": sum("ravdess" in it.speaker for it, _, _ in rows),
        },
        "captions": sum(len(r.captions) for _, r, _ in rows),
        "consistency": {
            "agrees_with_prediction": round(float(np.mean(read == predicted)), 4),
            "agrees_with_prediction_class_names": round(float(np.mean(read_names == predicted)), 4),
            "caption_accuracy": round(caption_acc, 4),
            "classifier_accuracy": round(classifier_acc, 4),
            "gap_points": round(100 * (classifier_acc - caption_acc), 2),
            "goal_agreement": 0.95,
            "goal_gap_points": 2.0,
        },
        "faithfulness": {
            "captions_stating_a_level": stating,
            "matching": matching,
            "share": round(matching / stating, 4) if stating else None,
            "goal": 1.0,
        },
        "variety": {
            "distinct_2": round(distinct_2(clip_captions), 4),
            "identical_in_a_row": sum(a == b for a, b in zip(clip_captions, clip_captions[1:])),
            "distinct_captions": len(set(clip_captions)),
            "goal_distinct_2": 0.5,
        },
        "speed_ms": {
            "mean": round(float(times.mean()), 1),
            "median": round(float(np.median(times)), 1),
            "p95": round(float(np.percentile(times, 95)), 1),
            "goal": 50.0,
            "analysis_s_mean": round(float(np.mean([t for _, _, t in rows])), 2),
        },
        "examples": clip_captions[:8],
    }
    path = write_results("captions", figures)
    c, f, v, s = figures["consistency"], figures["faithfulness"], figures["variety"], figures["speed_ms"]
    print(f"consistency: read-back agrees with the prediction {c['agrees_with_prediction']:.1%} (goal >= 95%)")
    print(f"  with bare class names {c['agrees_with_prediction_class_names']:.1%}")
    print(
        f"  with the corpus label {c['caption_accuracy']:.1%} vs the classifier's {c['classifier_accuracy']:.1%} "
        f"(gap {c['gap_points']:.1f} points, goal <= 2)"
    )
    print(f"faithfulness: {f['matching']}/{f['captions_stating_a_level']} captions stating a level match (goal 100%)")
    print(f"variety: distinct-2 {v['distinct_2']:.3f} (goal >= 0.5); identical in a row: {v['identical_in_a_row']}")
    print(f"speed: {s['mean']:.1f} ms per clip mean, {s['median']:.1f} median, {s['p95']:.1f} p95 (goal < 50 ms)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
