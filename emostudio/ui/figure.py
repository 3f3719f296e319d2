"""The Inspect page's figures: a clip's curves on one time axis, the overview of a long
media, and what each modality contributed to a selected segment's emotions.

They are plotly.js figures built as plain dicts: the plotly objects validate every
property as it is set, which took longer than loading the hour-long media they show
(``bench.scale``). The page draws them with plotly.js from ``studio.js``
(``context.Figures``), not through ``gr.Plot``: Gradio's plot component copies its figure
on every status change of the page and draws it twice.
"""

from __future__ import annotations

import base64
import copy
from functools import lru_cache

import numpy as np

from emostudio.core.domain import Annotation, Prediction
from emostudio.core.labels import DIMENSIONS
from emostudio.services.inspect import ClipView, avd_spreads, modality_contributions

# one colour per basic emotion, the same in every plot
EMOTION_COLOURS = {
    "neutral": "#9e9e9e",
    "happiness": "#f4b400",
    "sadness": "#4285f4",
    "anger": "#db4437",
    "fear": "#8e24aa",
    "disgust": "#0f9d58",
    "surprise": "#ff7043",
}
DIMENSION_COLOURS = {"arousal": "#d62728", "valence": "#2ca02c", "dominance": "#1f77b4"}
MODALITY_COLOURS = {"audio": "#5c6bc0", "face": "#ef6c00", "text": "#26a69a"}
ENVELOPE_COLUMNS = 1000
"""At most this many columns of waveform are drawn: about one per pixel of the figure."""


def _array(values) -> dict:
    """Curves go to the browser as plotly's typed arrays of float32: half the bytes of
    float64, finer than a pixel (an hour's times keep a step of 0.25 ms), and no JSON
    numbers to parse. NaN is a gap in the line."""
    data = np.ascontiguousarray(values, dtype="<f4")
    return {"dtype": "f4", "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def array_values(value) -> np.ndarray:
    """The numbers of a figure's array, typed (``_array``) or a plain list."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]).newbyteorder("<"))
    return np.asarray(value, dtype=np.float64)


TEMPLATE_LOOK = (
    "colorway",
    "font",
    "hoverlabel",
    "paper_bgcolor",
    "plot_bgcolor",
    "shapedefaults",
    "annotationdefaults",
    "title",
)


@lru_cache(maxsize=1)
def _template() -> dict:
    """Plotly's default look (the one the Train page's ``gr.Plot`` figures have), cut to
    what these 2-D figures use: the whole template (defaults for 24 kinds of trace, maps,
    3-D scenes) took plotly.js longer to apply than drawing the contributions bar chart.
    Axes do not grow their own margins (``_fixed_margin``)."""
    import plotly.io as pio

    look = pio.templates[pio.templates.default].to_plotly_json()["layout"]
    layout = {k: look[k] for k in TEMPLATE_LOOK if k in look}
    for axis in ("xaxis", "yaxis"):
        layout[axis] = {k: v for k, v in look.get(axis, {}).items() if k != "automargin"}
    return {"layout": layout}


@lru_cache(maxsize=8)
def _rows_layout(titles: tuple[str, ...], heights: tuple[float, ...], spacing: float) -> dict:
    """Axes and titles of rows on one shared time axis, as plotly's ``make_subplots``
    lays them out (built once per shape of figure: it is the slow part of plotly)."""
    from plotly.subplots import make_subplots

    layout = make_subplots(
        rows=len(heights),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=spacing,
        row_heights=list(heights),
        subplot_titles=list(titles) if any(titles) else None,
    ).layout.to_plotly_json()
    layout.pop("template", None)
    return layout


def _rows_figure(titles: tuple[str, ...], heights: tuple[float, ...], spacing: float, **layout) -> dict:
    """An empty figure of rows (``_rows_layout``) with ``layout`` set over it."""
    return {
        "data": [],
        "layout": {**copy.deepcopy(_rows_layout(titles, heights, spacing)), "template": _template(), **layout},
    }


def _axis(fig: dict, name: str, row: int, **props) -> None:
    """Set ``props`` on one row's x or y axis (``name``)."""
    fig["layout"].setdefault(f"{name}axis{row if row > 1 else ''}", {}).update(props)


def _add(fig: dict, row: int, **trace) -> None:
    """Add a trace to a row of the figure."""
    suffix = row if row > 1 else ""
    fig["data"].append({"type": "scatter", **trace, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})


def _fixed_margin(**sides: float) -> dict:
    """Margins that already fit the tick labels, axis titles and legend: left to grow on
    its own, plotly draws a figure once, measures, and draws it again (twice the time, 200
    ms for the curves of a long media in Chromium)."""
    return {**sides, "autoexpand": False}


def _legend_width(fig: dict) -> int:
    """The right margin the vertical legend needs (its longest name, at 12 px)."""
    names = [t.get("name") or "" for t in fig["data"] if t.get("showlegend") is not False]
    return round(62 + 8.5 * max((len(n) for n in names), default=0))


def envelope_columns(lo: np.ndarray, hi: np.ndarray, columns: int = ENVELOPE_COLUMNS) -> tuple:
    """The waveform's min / max frames merged into at most ``columns`` columns (the lowest
    and highest of each run of frames, so no peak is lost); returns (lo, hi, frames per
    column)."""
    per = max(1, -(-len(lo) // columns))
    if per == 1:
        return lo, hi, 1
    pad = -len(lo) % per
    lo = np.pad(lo, (0, pad), mode="edge").reshape(-1, per).min(axis=1)
    hi = np.pad(hi, (0, pad), mode="edge").reshape(-1, per).max(axis=1)
    return lo, hi, per


def _band(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[dict, dict]:
    """The outline of the area between ``lo`` and ``hi`` (out along the top, back along the
    bottom), for a ``fill: toself`` trace."""
    return _array(np.concatenate([x, x[::-1]])), _array(np.concatenate([hi, lo[::-1]]))


def _add_waveform(fig: dict, row: int, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """The waveform on a row: the area between its lowest and highest value at each ``x``."""
    x_band, y_band = _band(x, lo, hi)
    _add(
        fig,
        row,
        x=x_band,
        y=y_band,
        fill="toself",
        fillcolor="#78909c",
        line={"width": 0},
        name="waveform",
        hoverinfo="skip",
        showlegend=False,
    )


def contributions_figure(prediction: Prediction | None) -> dict | None:
    """One bar per basic emotion (best at the top), its fused score split into what each
    modality contributed (``modality_contributions``). None when there is nothing to split."""
    parts = modality_contributions(prediction)
    if not parts:
        return None
    order = sorted(prediction.basic, key=lambda k: prediction.basic[k])
    data = [
        {
            "type": "bar",
            "y": order,
            "x": [by_emotion[k] for k in order],
            "name": f"{m} ({prediction.modalities[m]['weight']:.0%} weight)",
            "orientation": "h",
            "marker": {"color": MODALITY_COLOURS.get(m)},
            "hovertemplate": "%{y}: %{x:.2f} from " + m + "<extra></extra>",
        }
        for m, by_emotion in parts.items()
    ]
    layout = {
        "template": _template(),
        "barmode": "stack",
        "height": 260,
        # room for the emotion names and a legend under the axis title, so that plotly
        # does not draw it twice to make room (it still grows them if a legend wraps)
        "margin": {"l": round(14 + 6 * max(map(len, order))), "r": 10, "t": 30, "b": 55},
        "title": {"text": "what each modality contributed", "font": {"size": 13}},
        "xaxis": {"range": [0, 1], "title": {"text": "fused score"}},
        "legend": {"orientation": "h", "y": -0.25},
    }
    return {"data": data, "layout": layout}


def curves_figure(view: ClipView) -> dict:
    """Rows on a shared time axis: arousal / valence / dominance with bands, the stacked
    probability of each basic emotion, the waveform, and speech / transcript spans.
    Human corrections are drawn in black dashes: label corrections as outlined spans
    over every row, A/V/D corrections as dashed steps on the curves they set."""
    has_wave = view.peaks is not None
    titles = ["arousal / valence / dominance (band: spread of the emotions weighed)", "basic emotions"]
    heights = [0.34, 0.34]
    if has_wave:
        titles.append("waveform")
        heights.append(0.16)
    titles.append("speech and transcript")
    heights.append(0.16)
    rows = len(titles)
    fig = _rows_figure(
        tuple(titles),
        tuple(heights),
        0.045,
        height=640 + 110 * has_wave,
        barmode="overlay",
        hovermode="x",
        clickmode="event",
    )
    chunks = view.chunks
    t = np.array([p.start + p.duration / 2 for p in chunks], dtype=np.float64)
    labels = view.labels
    probs = np.array([[p.basic.get(b, 0.0) for b in labels.basic] for p in chunks], dtype=np.float64)
    probs = probs.reshape(len(chunks), len(labels.basic))
    spreads = avd_spreads(probs, labels)
    times = _array(t)
    for d, dim in enumerate(labels.dimensions):
        y = np.array([np.nan if getattr(p, dim) is None else getattr(p, dim) for p in chunks], dtype=np.float64)
        x_band, y_band = _band(t, np.clip(y - spreads[:, d], -1, 1), np.clip(y + spreads[:, d], -1, 1))
        _add(
            fig,
            1,
            x=x_band,
            y=y_band,
            fill="toself",
            fillcolor=DIMENSION_COLOURS[dim],
            opacity=0.15,
            line={"width": 0},
            hoverinfo="skip",
            name=f"{dim} band",
            legendgroup=dim,
            showlegend=False,
        )
        _add(
            fig,
            1,
            x=times,
            y=_array(y),
            name=dim,
            mode="lines",
            line={"color": DIMENSION_COLOURS[dim]},
            legendgroup=dim,
        )
    for k, emotion in enumerate(labels.basic):
        _add(
            fig,
            2,
            x=times,
            y=_array(probs[:, k]),
            name=emotion,
            stackgroup="basic",
            mode="none",
            fillcolor=EMOTION_COLOURS.get(emotion, "#bdbdbd"),
            legendgroup="basic",
        )
    row = 3
    if has_wave:
        lo, hi, per = envelope_columns(view.peaks.values[:, 0], view.peaks.values[:, 1])
        x = view.peaks_start + (np.arange(len(lo)) + 0.5) * per / view.peaks.frame_rate
        _add_waveform(fig, row, x, lo, hi)
        peak = float(max(np.abs(view.peaks.values).max(), 1e-3))
        _axis(fig, "y", row, range=[-peak, peak], showticklabels=False)
        row += 1
    shown_from, shown_to = view.shown
    for y, segments, colour in ((0.5, view.speech, "#607d8b"), (1.5, view.transcript, "#00897b")):
        segments = [s for s in segments if s.end > shown_from and s.start < shown_to]
        _add(
            fig,
            row,
            type="bar",
            x=[s.duration for s in segments],
            base=[s.start for s in segments],
            y=[y] * len(segments),
            orientation="h",
            marker={"color": colour},
            width=0.8,
            showlegend=False,
            hovertext=[s.text or "speech" for s in segments],
            hoverinfo="text",
            name="transcript" if y > 1 else "speech",
        )
    _draw_corrections(fig, [a for a in view.corrections if a.end > shown_from and a.start < shown_to])
    _axis(fig, "y", 1, range=[-1, 1])
    _axis(fig, "y", 2, range=[0, 1])
    _axis(fig, "y", rows, tickvals=[0.5, 1.5], ticktext=["speech", "text"], range=[0, 2])
    _axis(fig, "x", rows, title={"text": "seconds (click to select and play from there)"}, range=list(view.shown))
    fig["layout"]["margin"] = _fixed_margin(l=55, r=_legend_width(fig), t=40, b=55)
    return fig


def _draw_corrections(fig: dict, corrections: list[Annotation]) -> None:
    """Label corrections as one dashed outline each across all rows, with the annotator's
    name and label above; A/V/D corrections as dashed steps at the value set, on the
    curves' row."""
    layout = fig["layout"]
    for a in corrections:
        if not a.label:
            continue
        layout.setdefault("shapes", []).append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": a.start,
                "x1": a.end,
                "y0": 0,
                "y1": 1,
                "line": {"dash": "dash", "color": "black", "width": 1.5},
                "fillcolor": "rgba(0,0,0,0)",
            }
        )
        layout.setdefault("annotations", []).append(
            {
                "x": a.start,
                "xref": "x",
                "y": 1,
                "yref": "paper",
                "yanchor": "bottom",
                "xanchor": "left",
                "text": f"{a.annotator}: {a.label}",
                "showarrow": False,
                "font": {"size": 10},
            }
        )
    for dim in DIMENSIONS:
        steps = [a for a in corrections if getattr(a, dim) is not None]
        if not steps:
            continue
        x, y, text = [], [], []
        for a in steps:  # one trace per dimension, the steps separated by gaps
            x += [a.start, a.end, None]
            y += [getattr(a, dim)] * 2 + [None]
            text += [f"{a.annotator}: {dim} {getattr(a, dim):+.2f}"] * 2 + [""]
        _add(
            fig,
            1,
            x=x,
            y=y,
            mode="lines",
            showlegend=False,
            name=f"{dim} corrected",
            line={"color": DIMENSION_COLOURS[dim], "dash": "dash", "width": 3},
            hovertext=text,
            hoverinfo="text",
        )


def overview_figure(view: ClipView) -> dict | None:
    """A long media at a glance: arousal / valence / dominance and the stacked emotions
    averaged over runs of chunks, and the waveform's envelope. Clicking it moves the window
    the figure below shows at full resolution (``studio.js`` shades the window over it, so
    moving the window never redraws this figure)."""
    if view.overview is None:
        return None
    o, labels = view.overview, view.labels
    has_wave = view.waveform is not None
    rows = 2 + has_wave
    fig = _rows_figure(
        ("",) * rows,
        (0.45, 0.35, 0.2)[:rows],
        0.06,
        height=260,
        margin=_fixed_margin(l=55, r=20, t=28, b=52),
        hovermode="x",
        clickmode="event",
        legend={"orientation": "h", "y": 1.08},
    )
    times = _array(o.start + o.duration / 2)
    for dim in labels.dimensions:
        _add(
            fig,
            1,
            x=times,
            y=_array(o.column(dim)),
            name=dim,
            mode="lines",
            line={"color": DIMENSION_COLOURS[dim], "width": 1},
        )
    for emotion in labels.basic:
        if emotion in o.classes:
            _add(
                fig,
                2,
                x=times,
                y=_array(o.column(emotion)),
                name=emotion,
                stackgroup="basic",
                mode="none",
                fillcolor=EMOTION_COLOURS.get(emotion, "#bdbdbd"),
                showlegend=False,
            )
    if has_wave:
        values, rate = view.waveform
        _add_waveform(fig, 3, (np.arange(len(values)) + 0.5) / rate, values[:, 0], values[:, 1])
        _axis(fig, "y", 3, showticklabels=False)
    _axis(fig, "y", 1, range=[-1, 1])
    _axis(fig, "y", 2, range=[0, 1])
    _axis(fig, "x", rows, range=[0, view.media.duration], title={"text": "whole media (click to show that part below)"})
    return fig
