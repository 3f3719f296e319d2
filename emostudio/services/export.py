"""CSV export of predictions (clip, segment and chunk level, with the clip's and each
segment's caption), annotations, captions and continuous traces; the same tables from the command line and the Export page. The prediction
columns follow the label space of the model version exported (one ``p_`` column per
basic class, one ``c_`` per compound, one per dimension). Every table names the media
by its original file name (``media``) and, in its own column, where it is stored
(``media_path``)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from emostudio.core.domain import Annotation, Caption, Media, Prediction, Trace
from emostudio.core.errors import StudioError
from emostudio.core.files import atomic_write
from emostudio.core.labels import LABELS, LabelSpace
from emostudio.db.repository import Repository
from emostudio.model.network import MODALITIES
from emostudio.services.gold import gold_spans
from emostudio.services.inspect import current_caption
from emostudio.services.training import HUMAN_SOURCES


def _slug(name: str) -> str:
    return name.replace(" ", "_")


def prediction_columns(labels: LabelSpace = LABELS) -> tuple[str, ...]:
    return (
        "media_id",
        "media",
        "media_path",
        "level",
        "start",
        "end",
        *(f"p_{b}" for b in labels.basic),
        *labels.dimensions,
        "top_emotion",
        "top_compound",
        "top_compound_score",
        *(f"c_{_slug(c)}" for c in labels.compound),
        "modalities",
        *(f"{m}_top" for m in MODALITIES),
        "caption",
        "model_version",
        "extractor",
    )


def prediction_row(media: Media, p: Prediction, labels: LabelSpace = LABELS, caption: Caption | None = None) -> dict:
    top_compound = max(p.compound, key=p.compound.get) if p.compound else ""
    row = {
        "media_id": p.media_id,
        "media": media.name,
        "media_path": media.path,
        "level": p.level,
        "start": round(p.start, 3),
        "end": round(p.end, 3),
        **{f"p_{b}": round(p.basic.get(b, 0.0), 4) for b in labels.basic},
        **{d: _round(getattr(p, d, None)) for d in labels.dimensions},
        "top_emotion": p.top_label or "",
        "top_compound": top_compound,
        "top_compound_score": round(p.compound.get(top_compound, 0.0), 4) if top_compound else "",
        **{f"c_{_slug(c)}": round(p.compound.get(c, 0.0), 4) for c in labels.compound},
        "modalities": "+".join(p.modalities),
        "caption": caption.text if caption else "",
        "model_version": p.model_version_id,
        "extractor": p.extractor,
    }
    for m in MODALITIES:
        probs = {k: v for k, v in p.modalities.get(m, {}).items() if k in labels.basic}
        row[f"{m}_top"] = max(probs, key=probs.get) if probs else ""
    return row


def _round(x: float | None):
    return "" if x is None else round(x, 4)


def annotation_columns(labels: LabelSpace = LABELS) -> tuple[str, ...]:
    return (
        "annotation_id",
        "media_id",
        "media",
        "media_path",
        "source",
        "annotator",
        "label",
        "raw_label",
        "start",
        "end",
        *labels.dimensions,
        "confidence",
        "corrects_prediction_id",
        "retracts_annotation_id",
        "model_version",
        "origin",
        "created_at",
    )


def annotation_row(media: Media, a: Annotation, labels: LabelSpace = LABELS) -> dict:
    return {
        "annotation_id": a.id,
        "media_id": a.media_id,
        "media": media.name,
        "media_path": media.path,
        "source": a.source,
        "annotator": a.annotator,
        "label": a.label or "",
        "raw_label": a.raw_label or "",
        "start": _round(a.start),
        "end": _round(a.end),
        **{d: _round(getattr(a, d, None)) for d in labels.dimensions},
        "confidence": _round(a.confidence),
        "corrects_prediction_id": a.corrects_prediction_id or "",
        "retracts_annotation_id": a.retracts_annotation_id or "",
        "model_version": a.model_version_id or "",
        "origin": a.origin or "",
        "created_at": a.created_at.isoformat() if a.created_at else "",
    }


TRACE_COLUMNS = (
    "trace_id",
    "media_id",
    "media",
    "media_path",
    "annotator",
    "dimension",
    "pass",
    "time",
    "value",
    "rate_hz",
    "model_version",
    "created_at",
)


def trace_rows(media: Media, trace: Trace) -> list[dict]:
    """One row per rated sample (long format: easy to plot or pivot)."""
    common = {
        "trace_id": trace.id,
        "media_id": trace.media_id,
        "media": media.name,
        "media_path": media.path,
        "annotator": trace.annotator,
        "dimension": trace.dimension,
        "pass": trace.pass_number,
        "rate_hz": trace.rate,
        "model_version": trace.model_version_id or "",
        "created_at": trace.created_at.isoformat() if trace.created_at else "",
    }
    return [{**common, "time": round(t, 3), "value": v} for t, v in zip(trace.times(), trace.values) if v is not None]


GOLD_COLUMNS = (
    "media_id",
    "media",
    "media_path",
    "start",
    "end",
    "label",
    "arousal",
    "valence",
    "dominance",
    "annotators",
    "annotation_ids",
    "trace_ids",
)


def gold_rows(media: dict[str, Media], spans) -> list[dict]:
    """The merged targets the trainers learn from (``emostudio.services.gold``)."""
    return [
        {
            "media_id": s.media_id,
            "media": media[s.media_id].name,
            "media_path": media[s.media_id].path,
            "start": _round(s.start),
            "end": _round(s.end),
            "label": s.label or "",
            **{d: _round(v) for d, v in zip(("arousal", "valence", "dominance"), s.avd)},
            "annotators": " ".join(s.annotators),
            "annotation_ids": " ".join(map(str, s.annotation_ids)),
            "trace_ids": " ".join(map(str, s.trace_ids)),
        }
        for s in spans
        if s.media_id in media
    ]


CAPTION_COLUMNS = (
    "caption_id",
    "media_id",
    "media",
    "media_path",
    "start",
    "end",
    "source",
    "annotator",
    "text",
    "score",
    "corrects_caption_id",
    "model_version",
    "created_at",
)


def caption_row(media: Media, c: Caption) -> dict:
    return {
        "caption_id": c.id,
        "media_id": c.media_id,
        "media": media.name,
        "media_path": media.path,
        "start": _round(c.start),
        "end": _round(None if c.start is None else c.start + (c.duration or 0.0)),
        "source": c.source,
        "annotator": c.annotator or "",
        "text": c.text,
        "score": _round(c.score),
        "corrects_caption_id": c.corrects_caption_id or "",
        "model_version": c.model_version_id or "",
        "created_at": c.created_at.isoformat() if c.created_at else "",
    }


def _caption_of(captions: list[Caption], p: Prediction) -> Caption | None:
    """A clip or segment prediction's current caption (people's edits first)."""
    span = None if p.level == "clip" else (p.start, p.duration)
    return current_caption(captions, span, p.model_version_id)


EXPORT_KINDS = ("clips", "segments", "chunks", "annotations", "captions", "traces", "gold")


def export_table(
    repo,
    kind: str,
    *,
    media_ids=None,
    model_version: str | None = None,
    annotator: str | None = None,
    source: str | None = None,
    paths: bool = True,
) -> tuple[tuple[str, ...], Iterable[dict]]:
    """The columns and rows for ``kind`` = clips | segments | chunks | annotations,
    filtered as the user asked; prediction rows come as an iterator, streamed (chunks one
    media's file at a time).

    Predictions default to the active model version, in that version's label space;
    every annotation is exported, corrections and retractions included, oldest first (the
    history, not just the latest label). ``media_path`` holds the file's path on the
    server, or with ``paths=False`` (what the web page exports, to visitors who need not
    know the server's folders) the stored file's own name.
    """
    media = {m.media.id: m.media for m in repo.list_media()}
    if not paths:
        media = {k: replace(m, path=Path(m.path).name) for k, m in media.items()}
    wanted = set(media_ids) if media_ids else set(media)
    version = repo.get_model_version(model_version) if model_version else repo.active_model_version()
    labels = LabelSpace.from_json(version.label_space) if version is not None else LABELS
    if kind == "annotations":
        rows = [a for a in repo.annotations(source=source, annotator=annotator, history=True) if a.media_id in wanted]
        return annotation_columns(labels), [annotation_row(media[a.media_id], a, labels) for a in rows]
    if kind == "gold":  # majority label and mean values across annotators, or ``annotator``'s alone
        if source == "pseudo":  # the gold is people's and label files': pseudo-labels never enter it
            return GOLD_COLUMNS, []
        sources = (source,) if source else HUMAN_SOURCES
        spans, _ = gold_spans(repo.annotations(), repo.traces(), sources=sources, annotator=annotator)
        return GOLD_COLUMNS, gold_rows({k: v for k, v in media.items() if k in wanted}, spans)
    if kind == "captions":  # every caption, generated and edited, oldest first (the history)
        if source not in (None, "human"):  # captions are people's or the model's: no import or pseudo source
            return CAPTION_COLUMNS, []
        rows = [c for c in repo.captions(source=source) if c.media_id in wanted]
        rows = [c for c in rows if not annotator or c.annotator == annotator]
        return CAPTION_COLUMNS, [caption_row(media[c.media_id], c) for c in rows]
    if kind == "traces":
        traces = [t for t in repo.traces(annotator=annotator) if t.media_id in wanted]
        return TRACE_COLUMNS, [row for t in traces for row in trace_rows(media[t.media_id], t)]
    if kind not in EXPORT_KINDS:
        raise ValueError(f"unknown export {kind!r} ({', '.join(EXPORT_KINDS)})")
    if kind == "chunks":  # streamed: one media's chunk file read at a time
        files = [f for f in repo.chunk_files(version.id) if f.media_id in wanted] if version is not None else []
        chunk_rows = (
            prediction_row(media[f.media_id], p, labels) for f in files for p in repo.read_chunks(f).predictions()
        )
        return prediction_columns(labels), chunk_rows
    preds = repo.iter_predictions(version.id, kind[:-1]) if version is not None else iter(())
    captions: dict[str, list[Caption]] = {}
    for c in repo.captions():
        captions.setdefault(c.media_id, []).append(c)
    return prediction_columns(labels), (  # streamed from the database
        prediction_row(media[p.media_id], p, labels, _caption_of(captions.get(p.media_id, []), p))
        for p in preds
        if p.media_id in wanted
    )


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text cell a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return) gets a leading apostrophe, which spreadsheets show
    as text. Numbers stay numbers: a valence of -0.5 is written as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(path: str | Path, rows: Iterable[dict], columns: Iterable[str]) -> int:
    """Write ``rows`` as CSV with formula-like text neutralised; the file appears whole or
    not at all (a full disk leaves no partial file). Returns how many rows were written."""
    columns = list(columns)
    n = 0

    def write(f) -> None:
        nonlocal n
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: neutralise(v) for k, v in row.items()})
            n += 1

    atomic_write(path, write, mode="w", newline="", encoding="utf-8")
    return n


def export_files(repo: Repository, folder: str | Path, kinds: Iterable[str], **filters) -> list[tuple[Path, int]]:
    """Write one CSV per kind into ``folder`` (what the Export page downloads, with media
    names instead of server paths); returns each file's path and how many rows it holds.
    All or nothing: when one file cannot be written (a full disk), none is left."""
    from datetime import datetime

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    written = []
    try:
        for kind in kinds:
            columns, rows = export_table(repo, kind, paths=False, **filters)
            path = folder / f"emostudio-{kind}-{stamp}.csv"
            written.append((path, write_csv(path, rows, columns)))
    except OSError as err:
        for path, _ in written:
            path.unlink(missing_ok=True)
        raise StudioError(
            f"the export could not be written ({err.strerror or type(err).__name__}); nothing was left half-written"
        ) from None
    return written
