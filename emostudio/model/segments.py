"""Annotation units and predictions pooled over them.

An annotation unit is the span an annotator labels in one keystroke: a VAD speech
segment, or the whole clip when VAD found none. Analysis stores one
``level='segment'`` prediction per unit (the overlap-weighted mean of its chunks), so
the Inspect page, the uncertainty queue and corrections work on units without
touching chunk rows.
"""

from __future__ import annotations

import bisect

import numpy as np

from emostudio.core.domain import Prediction, Segment


def annotation_units(duration: float, speech: list[Segment]) -> list[tuple[float, float]]:
    """``(start, duration)`` of each speech segment inside the media, else the whole media."""
    units = []
    for s in sorted(speech, key=lambda s: s.start):
        end = min(s.end, duration)
        if end - s.start > 1e-3 and s.start >= 0:
            units.append((s.start, end - s.start))
    return units or [(0.0, duration)]


def pool_chunks(
    chunks: list[Prediction], start: float, duration: float, level: str = "segment", starts: list[float] | None = None
) -> Prediction:
    """The overlap-weighted mean of the chunk predictions covering ``[start, start + duration)``.

    Per-modality probabilities are averaged over the chunks that had the modality;
    a modality's weight (its share in the fusion) is averaged over all chunks, so a
    face seen in half the segment counts half. ``starts`` (the chunks' start times) saves
    rebuilding them when pooling many segments of one media.
    """
    end = start + duration
    starts = starts if starts is not None else [c.start for c in chunks]
    lo = max(0, bisect.bisect_right(starts, start) - 1)
    hi = bisect.bisect_left(starts, end)
    picked = [c for c in chunks[lo:hi] if min(end, c.end) > max(start, c.start)]
    if not picked:
        raise ValueError(f"no chunk overlaps {start:.2f}-{end:.2f} s")
    w = np.array([min(end, c.end) - max(start, c.start) for c in picked])
    w = w / w.sum()
    first = picked[0]

    def mean(values: list[dict[str, float]], weights: np.ndarray) -> dict[str, float]:
        keys = values[0].keys()
        return {k: float(sum(wi * v.get(k, 0.0) for wi, v in zip(weights, values))) for k in keys}

    modalities = {}
    for m in {m for c in picked for m in c.modalities}:
        having = [(wi, c.modalities[m]) for wi, c in zip(w, picked) if m in c.modalities]
        mw = np.array([wi for wi, _ in having])
        probs = mean([v for _, v in having], mw / mw.sum())
        probs["weight"] = float(sum(wi * v.get("weight", 0.0) for wi, v in having))
        modalities[m] = probs

    def dim(name: str) -> float | None:
        values = [getattr(c, name) for c in picked]
        return None if any(v is None for v in values) else float(np.dot(w, values))

    return Prediction(
        None,
        first.media_id,
        first.model_version_id,
        first.extractor,
        level,
        start,
        duration,
        basic=mean([c.basic for c in picked], w),
        compound=mean([c.compound for c in picked], w),
        arousal=dim("arousal"),
        valence=dim("valence"),
        dominance=dim("dominance"),
        modalities=modalities,
    )


def segment_predictions(chunks: list[Prediction], units: list[tuple[float, float]]) -> list[Prediction]:
    starts = [c.start for c in chunks]
    return [pool_chunks(chunks, start, duration, starts=starts) for start, duration in units]
