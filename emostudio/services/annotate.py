"""Corrections people make in the studio, and the queue of what to look at next.

Everything here appends: a correction is a new ``Annotation`` (or ``Caption``) that
names the prediction it corrects and its model version, so nothing anyone entered is
overwritten, and "the current label" is whatever the newest annotation says.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Sequence

from emostudio.core.domain import Annotation, Caption, Media, Prediction, Segment
from emostudio.core.errors import StudioError
from emostudio.core.labels import DIMENSIONS, UnknownLabelError, canonical_label
from emostudio.db.repository import Repository
from emostudio.media.transcripts import EDIT_SOURCE, current_transcript

MAX_NAME = 64
MAX_CAPTION = 2000


class CorrectionError(StudioError, ValueError):
    """A correction that cannot be saved as entered; the message says which field and why."""


def checked_annotator(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise CorrectionError("an annotator name is required: enter yours above before saving")
    if len(name) > MAX_NAME:
        raise CorrectionError(f"an annotator name has at most {MAX_NAME} characters")
    return name


def save_correction(
    repo,
    media: Media,
    annotator: str,
    start: float,
    end: float,
    label: str | None = None,
    avd: dict[str, float | None] | None = None,
    corrects: Prediction | None = None,
    model_version_id: str | None = None,
    confidence: float | None = None,
    label_set: dict[str, str] | None = None,
) -> Annotation:
    """Append a human label and/or A/V/D values for ``[start, end)`` of a media.

    ``corrects`` is the prediction the person corrected (the segment whose span they
    kept); its id and model version are stored with the correction, so it can be traced
    back. A range of their own still records the model version they were shown.
    ``label_set`` maps the library's label names onto the model's classes
    (``labels.label_choices``): the name is kept as ``raw_label``.
    """
    annotator = checked_annotator(annotator)
    if start is None or end is None:
        raise CorrectionError("select a segment or give a start and end time")
    start, end = float(start), float(end)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise CorrectionError("the start and end must be numbers of seconds")
    if start < 0 or end <= start:
        raise CorrectionError(f"the range {start:.2f}-{end:.2f} s is empty or negative")
    if end > media.duration + 0.05:
        raise CorrectionError(f"the range ends at {end:.2f} s, after the end of {media.name} ({media.duration:.2f} s)")
    canonical = None
    if label and len(label) > MAX_NAME:
        raise CorrectionError(f"unknown label (a label has at most {MAX_NAME} characters)")
    if label and label_set and label in label_set:  # the library's own name for a model class
        canonical = label_set[label]
    elif label:
        try:
            canonical = canonical_label(label)
        except UnknownLabelError as err:
            raise CorrectionError(str(err)) from None
    values = {d: (None if (avd or {}).get(d) is None else float(avd[d])) for d in DIMENSIONS}
    for d, v in values.items():
        if v is not None and not -1.0 <= v <= 1.0:
            raise CorrectionError(f"{d} must be between -1 and 1, got {v:g}")
    if canonical is None and all(v is None for v in values.values()):
        raise CorrectionError("nothing to save: choose a label or set arousal, valence or dominance")
    if confidence is not None and not (math.isfinite(float(confidence)) and 0.0 <= float(confidence) <= 1.0):
        raise CorrectionError(f"the confidence is between 0 and 1, got {confidence:g}")
    return repo.add_annotation(
        Annotation(
            None,
            media.id,
            "human",
            annotator,
            label=canonical,
            raw_label=label if label != canonical else None,
            start=round(start, 4),
            duration=round(end - start, 4),
            **values,
            confidence=None if confidence is None else round(float(confidence), 3),
            corrects_prediction_id=corrects.id if corrects else None,
            model_version_id=corrects.model_version_id if corrects else model_version_id,
            origin="studio",
        )
    )


def retract_annotation(repo: Repository, annotation_id: int, annotator: str) -> Annotation:
    """Hide one's own label: a new row naming the one it retracts (nothing is deleted,
    the export keeps both). Only the person who saved a label can retract it."""
    annotator = checked_annotator(annotator)
    target = repo.get_annotation(annotation_id)
    if target is None or target.source != "human" or target.retracts_annotation_id is not None:
        raise CorrectionError(f"there is no label {annotation_id} to retract")
    if target.annotator != annotator:
        raise CorrectionError(f"label {annotation_id} was saved by {target.annotator}; only they can retract it")
    if all(a.id != annotation_id for a in repo.annotations(target.media_id, annotator=annotator)):
        raise CorrectionError(f"label {annotation_id} is already retracted")
    return repo.add_annotation(
        Annotation(
            None,
            target.media_id,
            "human",
            annotator,
            start=target.start,
            duration=target.duration,
            retracts_annotation_id=target.id,
            origin="studio",
        )
    )


TRANSCRIPT_LINE = re.compile(r"^\s*\[\s*(\d+(?:\.\d+)?)\s*[-–]\s*(\d+(?:\.\d+)?)\s*\]\s*(.*)$")


def transcript_text(spans: Sequence[Segment]) -> str:
    """A transcript as the editor shows it: one ``[start–end] text`` line per span."""
    return "\n".join(f"[{s.start:.2f}–{s.end:.2f}] {s.text or ''}" for s in spans)


def save_transcript(
    repo: Repository, media: Media, annotator: str, edited: str, current: Sequence[Segment]
) -> list[Segment]:
    """Store a person's correction of a transcript as a new version of it (the old one
    stays): one span per ``[start–end] text`` line. Re-analysing the media then embeds
    the corrected text (``current_transcript`` picks the newest version)."""
    annotator = checked_annotator(annotator)
    spans = []
    for n, line in enumerate((edited or "").splitlines(), 1):
        if not line.strip():
            continue
        match = TRANSCRIPT_LINE.match(line)
        if match is None:
            raise CorrectionError(f"line {n} does not start with a time span like [1.20–3.40]")
        start, end, text = float(match[1]), float(match[2]), match[3].strip()
        if end <= start or end > media.duration + 0.05:
            raise CorrectionError(f"line {n}: the span {start:.2f}–{end:.2f} s is empty or outside {media.name}")
        if len(text) > MAX_CAPTION:
            raise CorrectionError(f"line {n} has more than {MAX_CAPTION} characters")
        spans.append((start, end, text))
    if not spans:
        raise CorrectionError("the transcript is empty")
    if [(round(a, 2), round(b, 2), t) for a, b, t in spans] == [
        (round(s.start, 2), round(s.end, 2), (s.text or "").strip()) for s in current
    ]:
        raise CorrectionError("the transcript is unchanged")
    # a source of its own per edit (two people saving at once make two versions, never one)
    source = f"{EDIT_SOURCE}{annotator}:{datetime.now(UTC):%Y%m%dT%H%M%S.%f}"
    language = next((s.language for s in current if s.language), None)
    repo.add_segments(
        Segment(None, media.id, "transcript", start, end - start, text=text, source=source, language=language)
        for start, end, text in spans
    )
    return current_transcript(repo.segments(media.id, "transcript"))


def save_caption(
    repo: Repository,
    media: Media,
    annotator: str,
    text: str,
    previous: Caption | None = None,
    span: tuple[float, float] | None = None,
) -> Caption:
    """Append a person's caption of a media, or of its ``span`` (``(start, duration)``), an
    edit of ``previous`` when given. The caption-alignment job learns from these."""
    annotator, text = checked_annotator(annotator), (text or "").strip()
    if not text:
        raise CorrectionError("the caption is empty")
    if len(text) > MAX_CAPTION:
        raise CorrectionError(f"a caption has at most {MAX_CAPTION} characters")
    if previous is not None and previous.text.strip() == text:
        raise CorrectionError("the caption is unchanged")
    return repo.add_caption(
        Caption(
            None,
            media.id,
            text,
            "human",
            annotator=annotator,
            start=None if span is None else span[0],
            duration=None if span is None else span[1],
            corrects_caption_id=previous.id if previous else None,
            model_version_id=previous.model_version_id if previous else None,
        )
    )


REVIEW_COLUMNS = (
    "id",
    "annotator",
    "source",
    "from",
    "to",
    "label",
    "arousal",
    "valence",
    "dominance",
    "confidence",
    "saved",
)


def review_rows(annotations: Sequence[Annotation]) -> list[tuple]:
    """A media's current labels, grouped by annotator (people first, then imports and
    pseudo-labels), each in time order."""
    order = {"human": 0, "import": 1, "pseudo": 2}
    rows = sorted(annotations, key=lambda a: (order.get(a.source, 3), a.annotator, a.start or 0.0, a.id or 0))

    def num(x):
        return "" if x is None else round(x, 3)

    return [
        (
            a.id,
            a.annotator,
            a.source,
            num(a.start),
            num(a.end),
            f"{a.raw_label} ({a.label})" if a.raw_label and a.label else a.label or "",
            num(a.arousal),
            num(a.valence),
            num(a.dominance),
            num(a.confidence),
            a.created_at.strftime("%Y-%m-%d %H:%M") if a.created_at else "",
        )
        for a in rows
    ]


QUEUE_ORDERS = ("margin", "entropy", "balanced")
"""How the uncertainty queue ranks what to label next (``uncertainty_queue``)."""
DEFAULT_ORDER = "margin"
"""The order the Annotate page offers first (``bench.active_learning`` compares them)."""


def balanced_order(predictions: Sequence[Prediction]) -> list[int]:
    """Indices of ``predictions`` taking turns across the emotions the model predicts
    (each emotion's smallest margin first, then each one's second, ...). Plain uncertainty
    ranking piles up the few confusions a model makes most (often all of one class);
    taking turns asks about every kind of clip the model sees."""
    by_class: dict[str, list[int]] = {}
    for i, p in enumerate(predictions):
        by_class.setdefault(p.top_label or "", []).append(i)
    queues = [sorted(ids, key=lambda i: predictions[i].margin) for ids in by_class.values()]
    queues.sort(key=lambda q: predictions[q[0]].margin)  # the class with the most uncertain clip goes first
    return [q[k] for k in range(max(map(len, queues), default=0)) for q in queues if k < len(q)]


@dataclass(frozen=True)
class QueueItem:
    media_id: str
    prediction: Prediction
    score: float
    """The margin (lower = more uncertain) or the entropy (higher = more uncertain)."""


def uncertainty_queue(
    repo: Repository,
    annotator: str,
    by: str = DEFAULT_ORDER,
    model_version: str | None = None,
    limit: int | None = None,
) -> list[QueueItem]:
    """Analysed segments, most uncertain first, that ``annotator`` has not labelled yet
    (the first ``limit`` of them: one indexed query each, whatever the library's size).

    ``by='margin'`` ranks by the gap between the two likeliest emotions (smallest
    first); ``by='entropy'`` by the entropy of the emotion distribution (largest first);
    ``by='balanced'`` by margin, taking turns across the predicted emotions
    (``balanced_order``). A segment counts as done once this annotator saved a span
    covering its middle.
    """
    if by not in QUEUE_ORDERS:
        raise ValueError(f"unknown uncertainty {by!r} ({', '.join(QUEUE_ORDERS)})")
    model_version = model_version or _active(repo)
    if model_version is None:
        return []
    annotator = (annotator or "").strip()
    if by == "balanced":  # each emotion's most uncertain ``limit``: enough for ``limit`` turns
        found = [
            p
            for label in repo.segment_top_labels(model_version)
            for p in repo.uncertain_segments(model_version, annotator, "margin", limit, top_label=label)
        ]
        items = [QueueItem(found[i].media_id, found[i], found[i].margin) for i in balanced_order(found)]
        return items[:limit] if limit is not None else items
    found = repo.uncertain_segments(model_version, annotator, by, limit)
    return [QueueItem(p.media_id, p, p.entropy if by == "entropy" else p.margin) for p in found]


def queue_length(repo: Repository, annotator: str, model_version: str | None = None) -> int:
    """How many segments ``annotator`` has left to label (in any order)."""
    model_version = model_version or _active(repo)
    return repo.count_uncertain(model_version, (annotator or "").strip()) if model_version else 0


def _active(repo: Repository) -> str | None:
    active = repo.active_model_version()
    return active.id if active else None
