"""What the Inspect page shows for one clip, read from stored predictions (nothing is
recomputed), and the Plotly figure of its curves on one time axis."""

from __future__ import annotations

from dataclasses import dataclass

from emostudio.domain import Annotation, Media, Prediction, Segment
from emostudio.labels import BASIC, DIMENSIONS

# one colour per basic emotion, the same in every plot
EMOTION_COLOURS = {
    "neutral": "#9e9e9e", "happiness": "#f4b400", "sadness": "#4285f4", "anger": "#db4437",
    "fear": "#8e24aa", "disgust": "#0f9d58", "surprise": "#ff7043",
}  # fmt: skip
DIMENSION_COLOURS = {"arousal": "#d62728", "valence": "#2ca02c", "dominance": "#1f77b4"}


@dataclass(frozen=True)
class ClipView:
    media: Media
    clip: Prediction | None
    chunks: list[Prediction]
    speech: list[Segment]
    transcript: list[Segment]
    corrections: list[Annotation]


def load_clip_view(repo, media_id: str, model_version: str | None = None) -> ClipView:
    """A media's stored predictions (active model version by default), segments and span annotations."""
    media = repo.get_media(media_id)
    if media is None:
        raise KeyError(f"no media {media_id!r}")
    if model_version is None:
        active = repo.active_model_version("emotion")
        model_version = active.id if active else None
    preds = repo.predictions(media_id, model_version_id=model_version) if model_version else []
    clip = next((p for p in preds if p.level == "clip"), None)
    chunks = [p for p in preds if p.level == "chunk"]
    spans = [a for a in repo.annotations(media_id) if a.start is not None]
    return ClipView(media, clip, chunks, repo.segments(media_id, "speech"), repo.segments(media_id, "transcript"), spans)


def curves_figure(view: ClipView):
    """Three rows on a shared time axis: arousal / valence / dominance, the stacked
    probability of each basic emotion, and speech / transcript spans. Human corrections
    are drawn as dashed outlines over the rows they correct."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.4, 0.4, 0.2],
                        subplot_titles=("arousal / valence / dominance", "basic emotions", "speech and transcript"))  # fmt: skip
    t = [p.start + p.duration / 2 for p in view.chunks]
    for dim in DIMENSIONS:
        fig.add_trace(go.Scatter(x=t, y=[getattr(p, dim) for p in view.chunks], name=dim, mode="lines",
                                 line={"color": DIMENSION_COLOURS[dim]}, legendgroup="dims"), row=1, col=1)  # fmt: skip
    for emotion in BASIC:
        fig.add_trace(go.Scatter(x=t, y=[p.basic.get(emotion, 0.0) for p in view.chunks], name=emotion,
                                 stackgroup="basic", mode="none", fillcolor=EMOTION_COLOURS[emotion],
                                 legendgroup="basic"), row=2, col=1)  # fmt: skip
    for y, segments, colour in ((0.5, view.speech, "#607d8b"), (1.5, view.transcript, "#00897b")):
        fig.add_trace(go.Bar(x=[s.duration for s in segments], base=[s.start for s in segments], y=[y] * len(segments),
                             orientation="h", marker_color=colour, width=0.8, showlegend=False,
                             hovertext=[s.text or "speech" for s in segments], hoverinfo="text",
                             name="transcript" if y > 1 else "speech"), row=3, col=1)  # fmt: skip
    for a in view.corrections:
        fig.add_vrect(x0=a.start, x1=a.end, line_dash="dash", line_color="black", fillcolor="rgba(0,0,0,0)",
                      annotation_text=f"{a.annotator}: {a.label or ''}", annotation_position="top left")  # fmt: skip
    fig.update_yaxes(range=[-1, 1], row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=2, col=1)
    fig.update_yaxes(tickvals=[0.5, 1.5], ticktext=["speech", "text"], range=[0, 2], row=3, col=1)
    fig.update_xaxes(title_text="seconds", range=[0, view.media.duration], row=3, col=1)
    fig.update_layout(height=620, margin={"l": 50, "r": 20, "t": 40, "b": 40}, barmode="overlay")
    return fig


def ranked_emotions(prediction: Prediction | None) -> list[tuple[str, str, float]]:
    """(kind, emotion, score) rows, basic then compound, each best first."""
    if prediction is None:
        return []
    basic = sorted(prediction.basic.items(), key=lambda kv: -kv[1])
    compound = sorted(prediction.compound.items(), key=lambda kv: -kv[1])
    return [("basic", k, round(v, 3)) for k, v in basic] + [("compound", k, round(v, 3)) for k, v in compound]


def media_choices(repo) -> list[tuple[str, str]]:
    """(label, media id) for every media, for a picker."""
    return [(f"{m.media.name} ({m.media.duration:.1f} s, {m.media.status})", m.media.id) for m in repo.list_media()]
