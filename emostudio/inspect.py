"""What the Inspect and Annotate pages show for one clip, read from what analysis
stored (predictions, waveform peaks, face thumbnails): opening a clip recomputes
nothing. Also the Plotly figure of its curves on one time axis."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from emostudio.domain import Annotation, Caption, Media, Prediction, Segment
from emostudio.features.base import FeatureInput, Features
from emostudio.labels import AVD_PROTOTYPES, BASIC, COMPOUND_PAIRS, DIMENSIONS

# one colour per basic emotion, the same in every plot
EMOTION_COLOURS = {
    "neutral": "#9e9e9e", "happiness": "#f4b400", "sadness": "#4285f4", "anger": "#db4437",
    "fear": "#8e24aa", "disgust": "#0f9d58", "surprise": "#ff7043",
}  # fmt: skip
DIMENSION_COLOURS = {"arousal": "#d62728", "valence": "#2ca02c", "dominance": "#1f77b4"}
MODALITY_NAMES = ("audio", "face", "text")


@dataclass(frozen=True)
class ClipView:
    media: Media
    clip: Prediction | None
    chunks: list[Prediction]
    speech: list[Segment]
    transcript: list[Segment]
    corrections: list[Annotation]
    segments: list[Prediction] = field(default_factory=list)
    """One prediction per annotation unit (speech segment), in time order."""
    peaks: Features | None = None
    thumbnails: list[tuple[str, float]] = field(default_factory=list)
    captions: list[Caption] = field(default_factory=list)

    @property
    def units(self) -> list[Prediction]:
        """What the annotator steps through: the segments, else the clip as one unit."""
        return self.segments or ([self.clip] if self.clip else [])


def active_version_id(repo) -> str | None:
    active = repo.active_model_version("emotion")
    return active.id if active else None


def load_clip_view(repo, media_id: str, model_version: str | None = None, cache=None, thumbnails_root=None) -> ClipView:
    """A media's stored predictions (active model version by default), segments, span
    annotations, captions, and the waveform peaks and thumbnails analysis saved."""
    from emostudio.features import get_extractor
    from emostudio.thumbnails import saved_thumbnails

    media = repo.get_media(media_id)
    if media is None:
        raise KeyError(f"no media {media_id!r}")
    model_version = model_version or active_version_id(repo)
    preds = repo.predictions(media_id, model_version_id=model_version) if model_version else []
    by_level: dict[str, list[Prediction]] = {"clip": [], "segment": [], "chunk": []}
    for p in preds:
        by_level[p.level].append(p)
    peaks = cache.load(get_extractor("waveform-peaks"), FeatureInput(media)) if cache is not None else None
    return ClipView(
        media=media,
        clip=by_level["clip"][0] if by_level["clip"] else None,
        chunks=by_level["chunk"],
        speech=repo.segments(media_id, "speech"),
        transcript=repo.segments(media_id, "transcript"),
        corrections=[a for a in repo.annotations(media_id) if a.start is not None],
        segments=by_level["segment"],
        peaks=peaks,
        thumbnails=saved_thumbnails(thumbnails_root, media),
        captions=repo.captions(media_id),
    )


def unit_index_at(view: ClipView, t: float) -> int | None:
    """The unit under time ``t``, else the nearest one (a click between segments picks the closer)."""
    units = view.units
    if not units:
        return None
    i = bisect.bisect_right([u.start for u in units], t) - 1
    if i >= 0 and t < units[i].end:
        return i
    candidates = [j for j in (i, i + 1) if 0 <= j < len(units)]
    return min(candidates, key=lambda j: min(abs(t - units[j].start), abs(t - units[j].end)))


def chunk_at(view: ClipView, t: float) -> Prediction | None:
    """The chunk whose span holds time ``t``."""
    i = bisect.bisect_right([c.start for c in view.chunks], t) - 1
    return view.chunks[i] if 0 <= i < len(view.chunks) and t < view.chunks[i].end + 1e-9 else None


def avd_spreads(probs: np.ndarray) -> np.ndarray:
    """How far the A/V/D prototypes of the emotions the model weighs spread around their
    mean: per row of ``probs`` ([n, 7], BASIC order), the standard deviation of each
    dimension under that class distribution. It is 0 when the model is sure of one
    emotion and grows as it hesitates between emotions far apart on the dimension."""
    proto = np.array([AVD_PROTOTYPES[b] for b in BASIC])
    mean = probs @ proto
    second = probs @ proto**2
    return np.sqrt(np.maximum(second - mean**2, 0.0))


def avd_spread(basic: dict[str, float]) -> tuple[float, float, float]:
    """``avd_spreads`` of one prediction's basic-emotion probabilities."""
    return tuple(avd_spreads(np.array([[basic.get(b, 0.0) for b in BASIC]]))[0].tolist())


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
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.045, row_heights=heights,
                        subplot_titles=titles)  # fmt: skip
    chunks = view.chunks
    t = np.array([p.start + p.duration / 2 for p in chunks], dtype=np.float64)
    probs = np.array([[p.basic.get(b, 0.0) for b in BASIC] for p in chunks], dtype=np.float64).reshape(len(chunks), -1)
    spreads = avd_spreads(probs)
    for d, dim in enumerate(DIMENSIONS):
        y = np.array([np.nan if getattr(p, dim) is None else getattr(p, dim) for p in chunks], dtype=np.float64)
        hi, lo = np.clip(y + spreads[:, d], -1, 1), np.clip(y - spreads[:, d], -1, 1)
        fig.add_trace(go.Scatter(x=np.concatenate([t, t[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself",
                                 fillcolor=DIMENSION_COLOURS[dim], opacity=0.15, line={"width": 0}, hoverinfo="skip",
                                 name=f"{dim} band", legendgroup=dim, showlegend=False), row=1, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(x=t, y=y, name=dim, mode="lines", line={"color": DIMENSION_COLOURS[dim]},
                                 legendgroup=dim), row=1, col=1)  # fmt: skip
    for k, emotion in enumerate(BASIC):
        fig.add_trace(go.Scatter(x=t, y=probs[:, k], name=emotion, stackgroup="basic", mode="none",
                                 fillcolor=EMOTION_COLOURS[emotion], legendgroup="basic"), row=2, col=1)  # fmt: skip
    row = 3
    if has_wave:
        x = (np.arange(len(view.peaks)) + 0.5) / view.peaks.frame_rate
        lo, hi = view.peaks.values[:, 0], view.peaks.values[:, 1]
        fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself",
                                 fillcolor="#78909c", line={"width": 0}, name="waveform", hoverinfo="skip",
                                 showlegend=False), row=row, col=1)  # fmt: skip
        peak = float(max(np.abs(view.peaks.values).max(), 1e-3))
        fig.update_yaxes(range=[-peak, peak], showticklabels=False, row=row, col=1)
        row += 1
    for y, segments, colour in ((0.5, view.speech, "#607d8b"), (1.5, view.transcript, "#00897b")):
        fig.add_trace(go.Bar(x=[s.duration for s in segments], base=[s.start for s in segments], y=[y] * len(segments),
                             orientation="h", marker_color=colour, width=0.8, showlegend=False,
                             hovertext=[s.text or "speech" for s in segments], hoverinfo="text",
                             name="transcript" if y > 1 else "speech"), row=row, col=1)  # fmt: skip
    _draw_corrections(fig, view.corrections)
    fig.update_yaxes(range=[-1, 1], row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=2, col=1)
    fig.update_yaxes(tickvals=[0.5, 1.5], ticktext=["speech", "text"], range=[0, 2], row=rows, col=1)
    fig.update_xaxes(title_text="seconds (click to select and play from there)", range=[0, view.media.duration],
                     row=rows, col=1)  # fmt: skip
    fig.update_layout(height=640 + 110 * has_wave, margin={"l": 50, "r": 20, "t": 40, "b": 40}, barmode="overlay",
                      hovermode="x", clickmode="event")  # fmt: skip
    return fig


def _draw_corrections(fig, corrections: list[Annotation]) -> None:
    """Label corrections as one dashed outline each across all rows (shapes and their
    notes are set in one layout update: adding them one by one is quadratic in plotly),
    A/V/D corrections as dashed steps at the value set, on the curves' row."""
    import plotly.graph_objects as go

    labelled = [a for a in corrections if a.label]
    shapes = [{"type": "rect", "xref": "x", "yref": "paper", "x0": a.start, "x1": a.end, "y0": 0, "y1": 1,
               "line": {"dash": "dash", "color": "black", "width": 1.5}, "fillcolor": "rgba(0,0,0,0)"}
              for a in labelled]  # fmt: skip
    notes = [{"x": a.start, "xref": "x", "y": 1, "yref": "paper", "yanchor": "bottom", "xanchor": "left",
              "text": f"{a.annotator}: {a.label}", "showarrow": False, "font": {"size": 10}} for a in labelled]  # fmt: skip
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
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", showlegend=False, name=f"{dim} corrected",
                                 line={"color": DIMENSION_COLOURS[dim], "dash": "dash", "width": 3},
                                 hovertext=text, hoverinfo="text"), row=1, col=1)  # fmt: skip


UNIT_COLUMNS = ("kind", "emotion", "score", *MODALITY_NAMES)


def ranked_emotions(prediction: Prediction | None) -> list[tuple]:
    """(kind, emotion, score, audio, face, text) rows: basic then compound, each best first.

    The last three are what each modality alone gives the emotion (for a compound, the
    geometric mean of its pair), blank where the modality had no input.
    """
    if prediction is None:
        return []
    per_modality = {m: prediction.modalities.get(m) for m in MODALITY_NAMES}

    def contributions(pair: tuple[str, ...]) -> list:
        out = []
        for m in MODALITY_NAMES:
            probs = per_modality[m]
            out.append("" if not probs else round(math.prod(probs.get(k, 0.0) for k in pair) ** (1 / len(pair)), 3))
        return out

    basic = sorted(prediction.basic.items(), key=lambda kv: -kv[1])
    compound = sorted(prediction.compound.items(), key=lambda kv: -kv[1])
    rows = [("basic", k, round(v, 3), *contributions((k,))) for k, v in basic]
    rows += [("compound", k, round(v, 3), *contributions(COMPOUND_PAIRS.get(k, (k,)))) for k, v in compound]
    return rows


def fusion_shares(prediction: Prediction | None) -> str:
    """One line on how much each modality weighed in the fused prediction."""
    if prediction is None or not prediction.modalities:
        return ""
    weights = {m: v.get("weight") for m, v in prediction.modalities.items()}
    if any(w is None for w in weights.values()):  # clip rows hold per-modality probabilities only
        return "modalities: " + ", ".join(weights)
    total = sum(weights.values()) or 1.0
    return "fusion shares: " + ", ".join(f"{m} {w / total:.0%}" for m, w in weights.items())


def current_caption(captions: list[Caption]) -> Caption | None:
    """The newest human caption, else the newest generated one."""
    human = [c for c in captions if c.source == "human" and c.start is None]
    model = [c for c in captions if c.source == "model" and c.start is None]
    return (human or model or [None])[-1]


def media_choices(repo) -> list[tuple[str, str]]:
    """(label, media id) for every media, for a picker."""
    return [(f"{m.media.name} ({m.media.duration:.1f} s, {m.media.status})", m.media.id) for m in repo.list_media()]
