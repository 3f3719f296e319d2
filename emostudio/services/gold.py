"""The gold standard of a library: what people (and imported label files) say about each
labelled span, merged into one target that trainers learn from and the export writes.

Annotations are append-only, so "the label" of a span is a query: per annotator, their
newest label and their newest value of each dimension; across annotators, the majority
label (a tie teaches nothing) and the mean of each dimension, or one annotator's alone.
Continuous traces add A/V/D targets: each annotator's newest pass averaged over
``TRACE_WINDOW``-second spans, then across annotators.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from emostudio.core.domain import Annotation, Trace
from emostudio.core.labels import DIMENSIONS
from emostudio.services.traces import latest_passes, trace_spans
from emostudio.services.training import HUMAN_SOURCES, check_sources

TRACE_WINDOW = 1.0
"""Seconds of a continuous trace averaged into one target span (four 0.25 s chunks)."""


@dataclass(frozen=True)
class LabelledSpan:
    """One merged target: a whole media (``start`` None) or a span of it."""

    media_id: str
    start: float | None
    duration: float | None
    label: str | None
    """A basic or compound class; None when people only rated the dimensions (or tied)."""
    avd: tuple[float | None, float | None, float | None]
    annotation_ids: tuple[int, ...]
    annotators: tuple[str, ...]
    trace_ids: tuple[int, ...] = ()

    @property
    def end(self) -> float | None:
        return None if self.start is None else self.start + self.duration


def merged_spans(
    annotations: Iterable[Annotation], sources: Sequence[str] = HUMAN_SOURCES, annotator: str | None = None
) -> tuple[list[LabelledSpan], int]:
    """The labelled spans the chosen ``sources`` (and only ``annotator``'s, when given)
    say, and how many spans were left out because the annotators tied on the label."""
    check_sources(sources)
    spans: dict[tuple, dict[str, list[Annotation]]] = {}
    for a in annotations:
        if a.source not in sources or (annotator and a.annotator != annotator):
            continue
        key = (a.media_id, None, None) if a.start is None else (a.media_id, round(a.start, 2), round(a.duration, 2))
        spans.setdefault(key, {}).setdefault(a.annotator, []).append(a)
    out, ties = [], 0
    for (media_id, start, duration), by_annotator in sorted(spans.items(), key=lambda kv: str(kv[0])):
        votes, values, used = Counter(), [[] for _ in DIMENSIONS], []
        for theirs in by_annotator.values():
            # newest last: a person's correction replaces their earlier label
            theirs = sorted(theirs, key=lambda a: a.id or 0)
            labelled = [a for a in theirs if a.label]
            if labelled:
                votes[labelled[-1].label] += 1
                used.append(labelled[-1].id)
            for d, dim in enumerate(DIMENSIONS):
                rated = [a for a in theirs if getattr(a, dim) is not None]
                if rated:
                    values[d].append(getattr(rated[-1], dim))
                    used.append(rated[-1].id)
        label = None
        if votes:
            (top, n), *rest = votes.most_common()
            if rest and rest[0][1] == n:
                ties += 1
            else:
                label = top
        avd = tuple(float(np.mean(v)) if v else None for v in values)
        if label is None and all(v is None for v in avd):
            continue
        out.append(
            LabelledSpan(media_id, start, duration, label, avd, tuple(sorted(set(used))), tuple(sorted(by_annotator)))
        )
    return out, ties


def trace_targets(
    traces: Iterable[Trace], annotator: str | None = None, window: float = TRACE_WINDOW
) -> list[LabelledSpan]:
    """A/V/D targets from continuous traces (only ``annotator``'s, when given): one span
    per ``window`` seconds rated, the dimensions rated there set, the others None."""
    traces = list(latest_passes([t for t in traces if not annotator or t.annotator == annotator]).values())
    by_span: dict[tuple[str, float], dict[str, float]] = {}
    for media_id, start, _, dim, value in trace_spans(traces, window):
        by_span.setdefault((media_id, round(start, 3)), {})[dim] = value
    ids = {t.media_id: [] for t in traces}  # the passes used: each person's newest per dimension
    who = {t.media_id: set() for t in traces}
    for t in traces:
        ids[t.media_id].append(t.id)
        who[t.media_id].add(t.annotator)
    return [
        LabelledSpan(
            media_id,
            start,
            window,
            None,
            tuple(values.get(d) for d in DIMENSIONS),
            (),
            tuple(sorted(who[media_id])),
            tuple(sorted(ids[media_id])),
        )
        for (media_id, start), values in sorted(by_span.items())
    ]


def gold_spans(
    annotations: Iterable[Annotation],
    traces: Iterable[Trace] = (),
    sources: Sequence[str] = HUMAN_SOURCES,
    annotator: str | None = None,
) -> tuple[list[LabelledSpan], int]:
    """``merged_spans`` of the annotations, then the targets of people's traces (traces
    are people's: they count when ``sources`` has ``human``)."""
    spans, ties = merged_spans(annotations, sources, annotator)
    if "human" in sources:
        spans += trace_targets(traces, annotator)
    return spans, ties
