"""A media as time-aligned tiers, the form ELAN (``.eaf``) and Praat (``.TextGrid``) share:
what the studio writes into them and what it reads back.

Tiers (intervals with text), named so that a file written here imports back as it was:

- ``speech``: the voice activity segments;
- ``transcript``: the current transcript, one interval per span;
- ``labels: <annotator>``: a person's current span labels (a whole-media label spans the
  media), as ``anger; arousal +0.50`` (label and/or dimensions);
- ``imported: <annotator>``: labels a label file brought in;
- ``model: <version>``: the model's segment predictions, ``anger 0.72`` (written for
  reading; never imported as labels).

Tracks (time series): ``trace <annotator> <dimension>`` (continuous ratings) and
``model <version> <dimension>`` (the model's curves, chunk by chunk).

Importing a file made elsewhere: a tier whose every interval reads as a label (a class
name of the label space, with or without dimensions) becomes that annotator's labels
(the tier's name, ``labels: ``/``imported: `` left off); another tier becomes a
transcript, unless it is ``speech`` or a ``model:`` tier; ``trace`` tracks become traces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from emostudio.core.domain import Annotation, Media, Segment, Trace
from emostudio.core.labels import DIMENSIONS, UnknownLabelError, canonical_label
from emostudio.db.repository import Repository
from emostudio.media.transcripts import current_transcript
from emostudio.services.traces import latest_passes

SPEECH_TIER, TRANSCRIPT_TIER = "speech", "transcript"
LABELS_PREFIX, IMPORTED_PREFIX, MODEL_PREFIX = "labels: ", "imported: ", "model: "
TRACE_PREFIX = "trace "


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Tier:
    name: str
    intervals: list[Interval]


@dataclass(frozen=True)
class Track:
    """A time series: ``values[i]`` at ``times[i]`` seconds (NaN: no value there)."""

    name: str
    times: np.ndarray
    values: np.ndarray


@dataclass
class TierImport:
    """What importing a tier file added, and what it left out (one line each)."""

    labels: int = 0
    transcript: int = 0
    speech: int = 0
    traces: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        done = f"{self.labels} labels, {self.transcript} transcript spans, {self.speech} speech segments, "
        done += f"{self.traces} traces"
        return done + "".join(f"; {s}" for s in self.skipped)


def label_text(a: Annotation) -> str:
    """``anger; arousal +0.50; valence -0.20``: the label (its own name as given) and the dimensions set."""
    parts = [a.raw_label or a.label] if (a.raw_label or a.label) else []
    parts += [f"{d} {getattr(a, d):+.2f}" for d in DIMENSIONS if getattr(a, d) is not None]
    return "; ".join(parts)


_DIMENSION = re.compile(r"^(arousal|valence|dominance)\s+([+-]?\d+(?:\.\d+)?)$", re.IGNORECASE)


def parse_label_text(text: str) -> dict | None:
    """``{label, raw_label, arousal, ...}`` read from a label text, None when it is not one."""
    out: dict = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        if m := _DIMENSION.match(part):
            value = float(m.group(2))
            if not -1.0 <= value <= 1.0:
                return None
            out[m.group(1).lower()] = value
            continue
        if "label" in out:
            return None
        try:
            out["label"] = canonical_label(part)
        except UnknownLabelError:
            return None
        if out["label"] != part:
            out["raw_label"] = part
    return out or None


def media_tiers(repo: Repository, media: Media, model_version: str | None) -> tuple[list[Tier], list[Track]]:
    """The tiers and tracks of a media, as the module describes."""
    tiers = [
        Tier(SPEECH_TIER, [Interval(s.start, s.end, "speech") for s in repo.segments(media.id, "speech")]),
        Tier(
            TRANSCRIPT_TIER,
            [Interval(s.start, s.end, s.text or "") for s in current_transcript(repo.segments(media.id, "transcript"))],
        ),
    ]
    lanes: dict[str, dict[tuple[float, float], Annotation]] = {}
    for a in repo.annotations(media.id):
        if a.source == "pseudo" or not label_text(a):
            continue
        prefix = LABELS_PREFIX if a.source == "human" else IMPORTED_PREFIX
        start, end = (0.0, media.duration) if a.start is None else (a.start, a.end)
        lanes.setdefault(prefix + a.annotator, {})[(round(start, 3), round(end, 3))] = a  # the latest per span
    for name, spans in lanes.items():
        tiers.append(Tier(name, [Interval(s, e, label_text(a)) for (s, e), a in sorted(spans.items())]))
    tracks = []
    if model_version:
        units = repo.predictions(media.id, model_version, level="segment")
        tiers.append(
            Tier(
                MODEL_PREFIX + model_version,
                [Interval(p.start, p.end, f"{p.top_label} {p.basic[p.top_label]:.2f}") for p in units if p.top_label],
            )
        )
        series = repo.chunk_series(media.id, model_version)
        if series is not None:
            centres = series.start + series.duration / 2
            tracks += [Track(f"model {model_version} {d}", centres, series.column(d)) for d in DIMENSIONS]
    for t in latest_passes(repo.traces(media.id)).values():
        values = np.array([np.nan if v is None else v for v in t.values], dtype=np.float64)
        tracks.append(
            Track(f"{TRACE_PREFIX}{t.annotator} {t.dimension}", t.start + np.arange(len(values)) / t.rate, values)
        )
    return tiers, tracks


def import_tiers(repo: Repository, media: Media, tiers: list[Tier], tracks: list[Track], origin: str) -> TierImport:
    """Store what ``tiers`` and ``tracks`` (read from the file ``origin``) hold for ``media``.
    Labels are imports (importing the same file twice stores them once)."""
    done = TierImport()
    for tier in tiers:
        intervals = [i for i in tier.intervals if i.end > i.start and i.text.strip()]
        if tier.name.startswith(MODEL_PREFIX) or not intervals:
            continue
        if tier.name == SPEECH_TIER:
            if repo.has_segments(media.id, "speech"):
                done.skipped.append(f"tier {tier.name!r} left out: the media has its speech segments")
                continue
            done.speech += repo.add_segments(
                Segment(None, media.id, "speech", i.start, i.end - i.start, source=origin) for i in intervals
            )
            continue
        read = [parse_label_text(i.text) for i in intervals]
        if tier.name != TRANSCRIPT_TIER and all(r is not None for r in read):
            annotator = tier.name.removeprefix(LABELS_PREFIX).removeprefix(IMPORTED_PREFIX).strip() or tier.name
            for k, (i, r) in enumerate(zip(intervals, read)):
                whole = i.start <= 0 and i.end >= media.duration - 1e-3
                done.labels += repo.import_annotation(
                    Annotation(
                        None,
                        media.id,
                        "import",
                        annotator,
                        start=None if whole else round(i.start, 4),
                        duration=None if whole else round(i.end - i.start, 4),
                        origin=f"{origin}:{tier.name}:{k + 1}",
                        **r,
                    )
                )
            continue
        done.transcript += repo.add_segments(
            Segment(
                None,
                media.id,
                "transcript",
                i.start,
                i.end - i.start,
                text=i.text.strip(),
                source=f"{origin}:{tier.name}",
            )
            for i in intervals
        )
    for track in tracks:
        if not track.name.startswith(TRACE_PREFIX):
            continue
        trace = _trace(media, track)
        if trace is None:
            done.skipped.append(
                f"track {track.name!r} left out: it is not '<annotator> <dimension>' on a regular clock"
            )
            continue
        repo.add_trace(trace)
        done.traces += 1
    return done


def _trace(media: Media, track: Track) -> Trace | None:
    """A trace from a regularly sampled track named ``trace <annotator> <dimension>``."""
    who, _, dimension = track.name.removeprefix(TRACE_PREFIX).rpartition(" ")
    if not who or dimension not in DIMENSIONS or len(track.times) < 2:
        return None
    steps = np.diff(track.times)
    if (steps <= 0).any():
        return None
    step = float(steps.min())  # the clock: gaps are whole numbers of it (missing samples)
    if np.abs(steps / step - np.round(steps / step)).max() > 0.01:
        return None
    slots = np.round((track.times - track.times[0]) / step).astype(int)
    values: list[float | None] = [None] * (int(slots[-1]) + 1)
    for k, v in zip(slots, track.values):
        values[k] = None if np.isnan(v) else float(np.clip(v, -1.0, 1.0))
    return Trace(None, media.id, who.strip(), dimension, float(track.times[0]), round(1.0 / step, 6), tuple(values))
