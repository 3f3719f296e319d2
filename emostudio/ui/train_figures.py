"""The Train page's figures (Plotly): a job's loss and held-out UAR over its steps, and a
trained version beside its parent (confusion matrices and calibration)."""

from __future__ import annotations

import numpy as np

from emostudio.core.domain import Job

PARENT_COLOUR, MODEL_COLOUR = "#9e9e9e", "#5c6bc0"


def progress_figure(job: Job | None):
    """Loss (left axis) and held-out UAR (right axis) after each epoch; None before the first."""
    import plotly.graph_objects as go

    history = (job.metrics.get("history") if job else None) or []
    if not history:
        return None
    steps = [h["step"] for h in history]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=steps, y=[h["loss"] for h in history], name="training loss", mode="lines+markers"))
    uar = [h.get("heldout_uar") for h in history]
    if any(u is not None for u in uar):
        fig.add_trace(
            go.Scatter(x=steps, y=uar, name="held-out UAR", mode="lines+markers", yaxis="y2", line={"dash": "dot"})
        )
    done = f"{job.progress_completed:g} of {job.progress_total:g} steps" if job.progress_total else ""
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title={"text": f"job {job.id} ({job.kind}, {job.status}): {done}", "font": {"size": 13}},
        xaxis={"title": "step", "range": [0, max(job.progress_total or 0, steps[-1])]},
        yaxis={"title": "loss", "rangemode": "tozero"},
        yaxis2={"title": "held-out UAR", "overlaying": "y", "side": "right", "range": [0, 1]},
        legend={"orientation": "h", "y": -0.3},
    )
    return fig


def comparison_figure(held: dict | None, parent_id: str, version_id: str):
    """Confusion matrices (rows: the label people gave, as shares of the row) of the parent
    and the new version on the same held-out spans, and their reliability diagram."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not held or "confusion" not in held.get("model", {}):
        return None
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=(f"parent {parent_id}", f"new {version_id}", "calibration"),
        horizontal_spacing=0.09,
    )
    for col, side in ((1, "parent"), (2, "model")):
        confusion = held[side]["confusion"]
        counts = np.asarray(confusion["matrix"], float)
        shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
        fig.add_trace(
            go.Heatmap(
                z=shares,
                x=confusion["classes"],
                y=confusion["classes"],
                text=counts.astype(int),
                texttemplate="%{text}",
                zmin=0,
                zmax=1,
                colorscale="Blues",
                showscale=False,
                hovertemplate="given %{y}, predicted %{x}: %{text}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": "#cccccc", "dash": "dash"}, showlegend=False),
        row=1,
        col=3,
    )
    for side, colour, name in (("parent", PARENT_COLOUR, "parent"), ("model", MODEL_COLOUR, "new")):
        bins = held[side].get("reliability") or []
        fig.add_trace(
            go.Scatter(
                x=[b["confidence"] for b in bins],
                y=[b["accuracy"] for b in bins],
                text=[b["n"] for b in bins],
                mode="lines+markers",
                name=f"{name} (ECE {held[side].get('ece', float('nan')):.2f})",
                marker={"color": colour},
                hovertemplate="confidence %{x:.2f}: accuracy %{y:.2f} over %{text} spans<extra></extra>",
            ),
            row=1,
            col=3,
        )
    fig.update_xaxes(title_text="confidence", range=[0, 1], row=1, col=3)
    fig.update_yaxes(title_text="accuracy", range=[0, 1], row=1, col=3)
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.2})
    return fig
