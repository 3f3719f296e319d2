"""The annotator's timeline: a Gradio custom HTML component (``gr.HTML`` with a template,
CSS and JavaScript of its own) with the player and the timeline in one view. Regions in: ``timeline_value`` (the model's
curves, the units, the selected range, one lane per annotator, traces, transcript).
Regions out: the events ``seek`` (a click: ``{t}``), ``span`` (an edge dragged:
``{start, end}``) and ``trace`` (a continuous-rating pass: ``{dimension, start, rate,
values}``), read in Python from ``gr.EventData``. The view itself (zoom, pan, follow,
speed, loop) stays in the browser, so a save redraws the data and keeps the view.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from emostudio.core.domain import Annotation, Trace
from emostudio.services.inspect import ClipView
from emostudio.services.traces import DEFAULT_RATE, latest_passes
from emostudio.ui.figure import EMOTION_COLOURS

ASSETS = Path(__file__).parent
SOURCE_LANES = {"human": "{annotator}", "import": "imported", "pseudo": "pseudo-labels"}


def Timeline(**kwargs) -> gr.HTML:  # noqa: N802 - used like a component class
    """Player + timeline; see the module docstring for what goes in and comes out. A
    configured ``gr.HTML`` rather than a subclass: a subclass makes Gradio write a
    ``.pyi`` stub beside this file at import."""
    return gr.HTML(
        value=None,
        html_template="<div class='es-tl'></div>",
        css_template=(ASSETS / "timeline.css").read_text(),
        js_on_load=(ASSETS / "timeline.js").read_text(),
        apply_default_css=False,
        **kwargs,
    )


def _lane_name(a: Annotation) -> str:
    return SOURCE_LANES.get(a.source, a.source).format(annotator=a.annotator)


def _span_text(a: Annotation) -> str:
    dims = [
        f"{d[0].upper()}{getattr(a, d):+.1f}" for d in ("arousal", "valence", "dominance") if getattr(a, d) is not None
    ]
    name = a.raw_label or a.label  # the library's (or the label file's) own name
    text = " ".join([*([name] if name else []), *dims])
    return f"{text} ({a.confidence:.0%} sure)" if a.confidence is not None and a.confidence < 1 else text


def lanes(annotations: list[Annotation], duration: float) -> list[dict]:
    """One lane per annotator, then imported labels, then pseudo-labels; a whole-media
    label spans the whole media. In a lane, a later save over the same span replaces the
    earlier one (the history stays in the export)."""
    by_lane: dict[str, dict[tuple, Annotation]] = {}
    order = {"human": 0, "import": 1, "pseudo": 2}
    for a in sorted(annotations, key=lambda a: (order.get(a.source, 3), a.annotator, a.id or 0)):
        start, end = (0.0, duration) if a.start is None else (a.start, a.end)
        by_lane.setdefault(_lane_name(a), {})[(round(start, 2), round(end, 2))] = a
    return [
        {
            "name": name,
            "spans": [
                {
                    "s": s,
                    "e": e,
                    "id": a.id,
                    "text": _span_text(a),
                    "colour": EMOTION_COLOURS.get((a.label or "").split(" ")[-1], "#b0bec5"),
                }
                for (s, e), a in spans.items()
            ],
        }
        for name, spans in by_lane.items()
    ]


def timeline_value(
    view: ClipView | None, selection: tuple[float, float] | None = None, traces: list[Trace] = ()
) -> dict | None:
    """What the timeline draws for a clip (JSON-ready)."""
    if view is None:
        return None
    media = view.media
    chunks = _with_overview(view)
    labels = view.labels
    value = {
        "media": {
            "id": media.id,
            "url": f"media/{media.id}",
            "kind": "video" if media.info.has_video else "audio",
            "duration": media.duration,
            "name": media.name,
        },
        "rate": DEFAULT_RATE,
        "message": ""
        if view.units
        else "Analysis pending: the curves and segments appear once the worker has analysed this media.",
        "curves": {
            "t": [round(c.start + c.duration / 2, 3) for c in chunks],
            "w": [round(c.duration, 3) for c in chunks],
            **{
                d: [None if getattr(c, d) is None else round(getattr(c, d), 3) for c in chunks]
                for d in labels.dimensions
            },
        },
        "basic": {
            "names": list(labels.basic),
            "colours": [EMOTION_COLOURS.get(b, "#bdbdbd") for b in labels.basic],
            "p": [[round(c.basic.get(b, 0.0), 3) for b in labels.basic] for c in chunks],
        },
        "units": [[round(u.start, 3), round(u.end, 3)] for u in view.units],
        "selection": list(selection) if selection else None,
        "lanes": lanes(view.annotations, media.duration),
        "traces": [
            {
                "annotator": t.annotator,
                "dimension": t.dimension,
                "start": t.start,
                "rate": t.rate,
                "values": list(t.values),
            }
            for t in latest_passes(traces).values()
        ],
        "transcript": [{"s": s.start, "e": s.end, "text": s.text or ""} for s in view.transcript],
        "peaks": None,
    }
    if view.peaks is not None and len(view.peaks.values):
        peaks = np.asarray(view.peaks.values, float).reshape(-1, 2)
        value["peaks"] = {
            "start": view.peaks_start,
            "rate": view.peaks.frame_rate,
            "lo": np.round(peaks[:, 0], 4).tolist(),
            "hi": np.round(peaks[:, 1], 4).tolist(),
            "scale": float(max(np.abs(peaks).max(), 1e-3)),
        }
    if view.waveform is not None:  # a long media: the envelope outside the window
        envelope, rate = view.waveform
        value["envelope"] = {
            "rate": rate,
            "lo": np.round(envelope[:, 0], 4).tolist(),
            "hi": np.round(envelope[:, 1], 4).tolist(),
        }
    return value


def _with_overview(view: ClipView) -> list:
    """The window's chunks at full resolution, and the overview's averages either side (a
    long media: the curves cover the whole media without reading all of it)."""
    if view.overview is None or view.window is None:
        return view.chunks
    start, end = view.window
    o = view.overview
    before = [o.prediction(i) for i in range(len(o)) if o.start[i] + o.duration[i] <= start]
    after = [o.prediction(i) for i in range(len(o)) if o.start[i] >= end]
    return [*before, *view.chunks, *after]
