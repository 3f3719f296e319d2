"""The Inspect and Annotate pages' figures (Plotly): a clip's curves on one time axis, and
what each modality contributed to a selected segment's emotions.

The clip pages draw these with plotly.js from ``studio.js`` (``context.Figures``), not
through ``gr.Plot``: Gradio's plot component copies its figure on every status change of
the page and draws it twice, which made opening an hour-long media twice as slow in the
browser (``bench.scale``).
"""

from __future__ import annotations

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


def _f32(values) -> np.ndarray:
    """Curves go to the browser as float32: half the bytes of float64, and finer than a
    pixel (an hour's times keep a step of 0.25 ms)."""
    return np.asarray(values, dtype=np.float32)


def _fixed_margin(**sides: float) -> dict:
    """Margins that already fit the tick labels, axis titles and legend: left to grow on
    its own, plotly draws a figure once, measures, and draws it again (twice the time, 200
    ms for the curves of a long media in Chromium)."""
    return {**sides, "autoexpand": False}


def _legend_width(fig) -> int:
    """The right margin the vertical legend needs (its longest name, at 12 px)."""
    names = [t.name or "" for t in fig.data if t.showlegend is not False]
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


def contributions_figure(prediction: Prediction | None):
    """One bar per basic emotion (best at the top), its fused score split into what each
    modality contributed (``modality_contributions``). None when there is nothing to split."""
    import plotly.graph_objects as go

    parts = modality_contributions(prediction)
    if not parts:
        return None
    order = sorted(prediction.basic, key=lambda k: prediction.basic[k])
    fig = go.Figure()
    for m, by_emotion in parts.items():
        fig.add_trace(
            go.Bar(
                y=order,
                x=[by_emotion[k] for k in order],
                name=f"{m} ({prediction.modalities[m]['weight']:.0%} weight)",
                orientation="h",
                marker_color=MODALITY_COLOURS.get(m),
                hovertemplate="%{y}: %{x:.2f} from " + m + "<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        height=260,
        # room for the emotion names and a legend under the axis title, so that plotly
        # does not draw it twice to make room (it still grows them if a legend wraps)
        margin={"l": round(14 + 6 * max(map(len, order))), "r": 10, "t": 30, "b": 55},
        title={"text": "what each modality contributed", "font": {"size": 13}},
        xaxis={"range": [0, 1], "title": "fused score"},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def curves_figure(view: ClipView):
    """Rows on a shared time axis: arousal / valence / dominance with bands, the stacked
    probability of each basic emotion, the waveform, and speech / transcript spans.
    Human corrections are drawn in black dashes: label corrections as outlined spans
    over every row, A/V/D corrections as dashed steps on the curves they set."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    has_wave = view.peaks is not None
    titles = ["arousal / valence / dominance (band: spread of the emotions weighed)", "basic emotions"]
    heights = [0.34, 0.34]
    if has_wave:
        titles.append("waveform")
        heights.append(0.16)
    titles.append("speech and transcript")
    heights.append(0.16)
    rows = len(titles)
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.045, row_heights=heights, subplot_titles=titles
    )
    chunks = view.chunks
    t = np.array([p.start + p.duration / 2 for p in chunks], dtype=np.float64)
    labels = view.labels
    probs = np.array([[p.basic.get(b, 0.0) for b in labels.basic] for p in chunks], dtype=np.float64)
    probs = probs.reshape(len(chunks), len(labels.basic))
    spreads = avd_spreads(probs, labels)
    t32 = _f32(t)
    for d, dim in enumerate(labels.dimensions):
        y = np.array([np.nan if getattr(p, dim) is None else getattr(p, dim) for p in chunks], dtype=np.float64)
        hi, lo = np.clip(y + spreads[:, d], -1, 1), np.clip(y - spreads[:, d], -1, 1)
        fig.add_trace(
            go.Scatter(
                x=_f32(np.concatenate([t, t[::-1]])),
                y=_f32(np.concatenate([hi, lo[::-1]])),
                fill="toself",
                fillcolor=DIMENSION_COLOURS[dim],
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                name=f"{dim} band",
                legendgroup=dim,
                showlegend=False,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=t32, y=_f32(y), name=dim, mode="lines", line={"color": DIMENSION_COLOURS[dim]}, legendgroup=dim
            ),
            row=1,
            col=1,
        )
    for k, emotion in enumerate(labels.basic):
        fig.add_trace(
            go.Scatter(
                x=t32,
                y=_f32(probs[:, k]),
                name=emotion,
                stackgroup="basic",
                mode="none",
                fillcolor=EMOTION_COLOURS.get(emotion, "#bdbdbd"),
                legendgroup="basic",
            ),
            row=2,
            col=1,
        )
    row = 3
    if has_wave:
        lo, hi, per = envelope_columns(view.peaks.values[:, 0], view.peaks.values[:, 1])
        x = view.peaks_start + (np.arange(len(lo)) + 0.5) * per / view.peaks.frame_rate
        fig.add_trace(
            go.Scatter(
                x=_f32(np.concatenate([x, x[::-1]])),
                y=_f32(np.concatenate([hi, lo[::-1]])),
                fill="toself",
                fillcolor="#78909c",
                line={"width": 0},
                name="waveform",
                hoverinfo="skip",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        peak = float(max(np.abs(view.peaks.values).max(), 1e-3))
        fig.update_yaxes(range=[-peak, peak], showticklabels=False, row=row, col=1)
        row += 1
    shown_from, shown_to = view.shown
    for y, segments, colour in ((0.5, view.speech, "#607d8b"), (1.5, view.transcript, "#00897b")):
        segments = [s for s in segments if s.end > shown_from and s.start < shown_to]
        fig.add_trace(
            go.Bar(
                x=[s.duration for s in segments],
                base=[s.start for s in segments],
                y=[y] * len(segments),
                orientation="h",
                marker_color=colour,
                width=0.8,
                showlegend=False,
                hovertext=[s.text or "speech" for s in segments],
                hoverinfo="text",
                name="transcript" if y > 1 else "speech",
            ),
            row=row,
            col=1,
        )
    _draw_corrections(fig, [a for a in view.corrections if a.end > shown_from and a.start < shown_to])
    fig.update_yaxes(range=[-1, 1], row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=2, col=1)
    fig.update_yaxes(tickvals=[0.5, 1.5], ticktext=["speech", "text"], range=[0, 2], row=rows, col=1)
    fig.update_xaxes(
        title_text="seconds (click to select and play from there)", range=list(view.shown), row=rows, col=1
    )
    fig.update_layout(
        height=640 + 110 * has_wave,
        margin=_fixed_margin(l=55, r=_legend_width(fig), t=40, b=55),
        barmode="overlay",
        hovermode="x",
        clickmode="event",
    )
    return fig


def _draw_corrections(fig, corrections: list[Annotation]) -> None:
    """Label corrections as one dashed outline each across all rows (shapes and their
    notes are set in one layout update: adding them one by one is quadratic in plotly),
    A/V/D corrections as dashed steps at the value set, on the curves' row."""
    import plotly.graph_objects as go

    labelled = [a for a in corrections if a.label]
    shapes = [
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
        for a in labelled
    ]
    notes = [
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
        for a in labelled
    ]
    if shapes:
        fig.update_layout(shapes=list(fig.layout.shapes) + shapes, annotations=list(fig.layout.annotations) + notes)
    for dim in DIMENSIONS:
        steps = [a for a in corrections if getattr(a, dim) is not None]
        if not steps:
            continue
        x, y, text = [], [], []
        for a in steps:  # one trace per dimension, the steps separated by gaps
            x += [a.start, a.end, None]
            y += [getattr(a, dim)] * 2 + [None]
            text += [f"{a.annotator}: {dim} {getattr(a, dim):+.2f}"] * 2 + [""]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                showlegend=False,
                name=f"{dim} corrected",
                line={"color": DIMENSION_COLOURS[dim], "dash": "dash", "width": 3},
                hovertext=text,
                hoverinfo="text",
            ),
            row=1,
            col=1,
        )


def overview_figure(view: ClipView):
    """A long media at a glance: arousal / valence / dominance and the stacked emotions
    averaged over runs of chunks, and the waveform's envelope. Clicking it moves the window
    the figure below shows at full resolution (``studio.js`` shades the window over it, so
    moving the window never redraws this figure)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if view.overview is None:
        return None
    o, labels = view.overview, view.labels
    has_wave = view.waveform is not None
    fig = make_subplots(
        rows=2 + has_wave,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        row_heights=[0.45, 0.35, 0.2][: 2 + has_wave],
    )
    t = _f32(o.start + o.duration / 2)
    for dim in labels.dimensions:
        fig.add_trace(
            go.Scatter(
                x=t,
                y=_f32(o.column(dim)),
                name=dim,
                mode="lines",
                line={"color": DIMENSION_COLOURS[dim], "width": 1},
            ),
            row=1,
            col=1,
        )
    for emotion in labels.basic:
        if emotion in o.classes:
            fig.add_trace(
                go.Scatter(
                    x=t,
                    y=_f32(o.column(emotion)),
                    name=emotion,
                    stackgroup="basic",
                    mode="none",
                    fillcolor=EMOTION_COLOURS.get(emotion, "#bdbdbd"),
                    showlegend=False,
                ),
                row=2,
                col=1,
            )
    if has_wave:
        values, rate = view.waveform
        x = (np.arange(len(values)) + 0.5) / rate
        fig.add_trace(
            go.Scatter(
                x=_f32(np.concatenate([x, x[::-1]])),
                y=_f32(np.concatenate([values[:, 1], values[::-1, 0]])),
                fill="toself",
                fillcolor="#78909c",
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
            ),
            row=3,
            col=1,
        )
        fig.update_yaxes(showticklabels=False, row=3, col=1)
    fig.update_yaxes(range=[-1, 1], row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=2, col=1)
    fig.update_xaxes(
        range=[0, view.media.duration],
        title_text="whole media (click to show that part below)",
        row=2 + has_wave,
        col=1,
    )
    fig.update_layout(
        height=260,
        margin=_fixed_margin(l=55, r=20, t=28, b=52),
        hovermode="x",
        clickmode="event",
        legend={"orientation": "h", "y": 1.08},
    )
    return fig
