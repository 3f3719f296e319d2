"""Continuous ratings (CARMA / DARMA / NOVA live mode): while the media plays, an
annotator traces one dimension; the browser samples it on the media's time axis and
hands the pass over when playback stops. Each pass is stored as a new ``Trace``
(append-only), compared with the model's curve and with other annotators' traces,
exported, and turned into span targets for the trainers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from emostudio.core.domain import Media, Prediction, Trace
from emostudio.core.labels import DIMENSIONS
from emostudio.services.agreement import AgreementRow, agreement_table, concordance, pearson, value_agreement
from emostudio.services.annotate import CorrectionError, checked_annotator

DEFAULT_RATE = 10.0
"""Samples per second of media time (the issue's and CARMA's default)."""
MAX_RATE = 50.0
MIN_SAMPLES = 2


def save_trace(
    repo,
    media: Media,
    annotator: str,
    dimension: str,
    start: float,
    values: Sequence[float | None],
    rate: float = DEFAULT_RATE,
    model_version_id: str | None = None,
) -> Trace:
    """Append one pass of a continuous rating; the message of a refusal says what is wrong."""
    annotator = checked_annotator(annotator)
    if dimension not in DIMENSIONS:
        raise CorrectionError(f"a trace rates one of {', '.join(DIMENSIONS)}, not {dimension!r}")
    rate = float(rate)
    if not (math.isfinite(rate) and 0 < rate <= MAX_RATE):
        raise CorrectionError(f"a trace is sampled at 0-{MAX_RATE:g} Hz, got {rate:g}")
    start = float(start)
    cleaned = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            cleaned.append(None)
            continue
        v = float(v)
        if not -1.0 <= v <= 1.0:
            raise CorrectionError(f"trace values lie in -1..1, got {v:g}")
        cleaned.append(round(v, 4))
    while cleaned and cleaned[-1] is None:  # nothing rated at the end of the pass
        cleaned.pop()
    if sum(v is not None for v in cleaned) < MIN_SAMPLES:
        raise CorrectionError("the trace is too short: play the media while rating (at least 0.2 s)")
    if not math.isfinite(start) or start < 0 or start + len(cleaned) / rate > media.duration + 2 / rate:
        raise CorrectionError(f"the trace does not fit inside {media.name} ({media.duration:.2f} s)")
    trace = Trace(None, media.id, annotator, dimension, round(start, 4), rate, tuple(cleaned), 1, model_version_id)
    return repo.add_trace(trace)


def trace_series(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) of the rated samples (gaps left out)."""
    t = np.array(trace.times(), float)
    v = np.array([np.nan if x is None else x for x in trace.values], float)
    keep = ~np.isnan(v)
    return t[keep], v[keep]


def model_series(chunks: Sequence[Prediction], dimension: str) -> tuple[np.ndarray, np.ndarray]:
    """(chunk middles, values) of the model's curve of one dimension."""
    rated = [c for c in chunks if getattr(c, dimension) is not None]
    return (
        np.array([c.start + c.duration / 2 for c in rated], float),
        np.array([getattr(c, dimension) for c in rated], float),
    )


def _on(times: np.ndarray, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v`` sampled at ``times`` by linear interpolation, NaN outside ``t``."""
    if len(t) == 0:
        return np.full(len(times), np.nan)
    out = np.interp(times, t, v)
    out[(times < t[0]) | (times > t[-1])] = np.nan
    return out


def latest_passes(traces: Iterable[Trace]) -> dict[tuple[str, str, str], Trace]:
    """(media id, annotator, dimension) -> that annotator's newest pass over that media."""
    out: dict[tuple[str, str, str], Trace] = {}
    for tr in sorted(traces, key=lambda t: t.id or 0):
        out[(tr.media_id, tr.annotator, tr.dimension)] = tr
    return out


def trace_versus_model(traces: Iterable[Trace], chunks: Sequence[Prediction]) -> list[AgreementRow]:
    """CCC and Pearson's r of each annotator's newest pass against the model's curve, on
    the trace's own samples (the curve interpolated there)."""
    rows = []
    for (_, person, dim), tr in sorted(latest_passes(traces).items()):
        t, v = trace_series(tr)
        m = _on(t, *model_series(chunks, dim))
        keep = ~np.isnan(m)
        what, pair = f"{dim} trace", f"{person} (pass {tr.pass_number}) & model"
        rows.append(AgreementRow(what, "CCC", pair, concordance(v[keep], m[keep]), int(keep.sum())))
        rows.append(AgreementRow(what, "Pearson's r", pair, pearson(v[keep], m[keep]), int(keep.sum())))
    return rows


def trace_agreement(traces: Iterable[Trace], rate: float = DEFAULT_RATE) -> list[AgreementRow]:
    """Annotators' newest passes against each other, per media and dimension, on a common grid."""
    passes = latest_passes(traces)
    rows = []
    for media_id, dim in sorted({(m, d) for m, _, d in passes}):
        mine = {p: tr for (m, p, d), tr in passes.items() if (m, d) == (media_id, dim)}
        if len(mine) < 2:
            continue
        values = {}
        for person, tr in mine.items():
            t, v = trace_series(tr)
            grid = np.floor(t * rate + 1e-6).astype(int)  # the sample slot each middle falls in
            values[person] = dict(zip(grid.tolist(), v.tolist()))
        rows += value_agreement(values, f"{dim} trace")
    return rows


def trace_spans(traces: Iterable[Trace], window: float = 1.0) -> list[tuple[str, float, float, str, float]]:
    """(media id, start, duration, dimension, value): the mean of each annotator's newest
    pass over consecutive ``window``-second spans, averaged across annotators. These are
    the targets the trainers read from continuous ratings."""
    by_media: dict[tuple[str, str], list[Trace]] = {}
    for (media_id, _, dim), tr in latest_passes(traces).items():
        by_media.setdefault((media_id, dim), []).append(tr)
    out = []
    for (media_id, dim), passes in sorted(by_media.items()):
        means_by_span: dict[int, list[float]] = {}
        for tr in passes:
            t, v = trace_series(tr)
            span = np.floor(t / window).astype(int)
            for k in np.unique(span):
                means_by_span.setdefault(int(k), []).append(float(v[span == k].mean()))
        for k, means in sorted(means_by_span.items()):
            out.append((media_id, k * window, window, dim, float(np.mean(means))))
    return out


def trace_table(traces: Sequence[Trace], chunks: Sequence[Prediction]) -> list[tuple]:
    """The traces of one media against the model's curve, then against each other."""
    return agreement_table([*trace_versus_model(traces, chunks), *trace_agreement(traces)])
