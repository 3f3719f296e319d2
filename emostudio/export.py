"""CSV export of predictions (clip and chunk level); the same columns from the CLI and the UI."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable

from emostudio.domain import Media, Prediction
from emostudio.labels import BASIC, COMPOUND, DIMENSIONS


def _slug(name: str) -> str:
    return name.replace(" ", "_")


PREDICTION_COLUMNS: tuple[str, ...] = (
    "media_id", "media", "level", "start", "end",
    *(f"p_{b}" for b in BASIC), *DIMENSIONS,
    "top_emotion", "top_compound", "top_compound_score", *(f"c_{_slug(c)}" for c in COMPOUND),
    "modalities", *(f"{m}_top" for m in ("audio", "face", "text")), "model_version", "extractor",
)  # fmt: skip


def prediction_row(media: Media, p: Prediction) -> dict:
    top_compound = max(p.compound, key=p.compound.get) if p.compound else ""
    row = {
        "media_id": p.media_id, "media": media.path, "level": p.level,
        "start": round(p.start, 3), "end": round(p.end, 3),
        **{f"p_{b}": round(p.basic.get(b, 0.0), 4) for b in BASIC},
        "arousal": _round(p.arousal), "valence": _round(p.valence), "dominance": _round(p.dominance),
        "top_emotion": p.top_label or "", "top_compound": top_compound,
        "top_compound_score": round(p.compound.get(top_compound, 0.0), 4) if top_compound else "",
        **{f"c_{_slug(c)}": round(p.compound.get(c, 0.0), 4) for c in COMPOUND},
        "modalities": "+".join(p.modalities),
        "model_version": p.model_version_id, "extractor": p.extractor,
    }  # fmt: skip
    for m in ("audio", "face", "text"):
        probs = {k: v for k, v in p.modalities.get(m, {}).items() if k in BASIC}
        row[f"{m}_top"] = max(probs, key=probs.get) if probs else ""
    return row


def _round(x: float | None):
    return "" if x is None else round(x, 4)


def write_predictions_csv(path: str | Path, rows: Iterable[dict]) -> int:
    """Write rows with ``PREDICTION_COLUMNS``; returns how many were written."""
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=PREDICTION_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            n += 1
    return n
