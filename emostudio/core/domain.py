"""Plain, frozen records that flow between the layers.

Times are seconds (floats) named ``start`` and ``duration``; ids are strings. A
``Media`` points at a file and never holds samples: read them with
``emostudio.media.load_audio(media.path, start, duration)``.

Example::

    >>> from emostudio.core.domain import Segment
    >>> s = Segment(id="s1", media_id="m1", kind="speech", start=1.0, duration=0.5)
    >>> s.end
    1.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

AnnotationSource = Literal["human", "import", "pseudo"]
SegmentKind = Literal["speech", "transcript"]


@dataclass(frozen=True)
class MediaInfo:
    """What probing a file tells: streams and their properties, no samples."""

    container: str
    duration: float
    has_audio: bool
    has_video: bool
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    video_codec: str | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None

    @property
    def modality(self) -> str:
        if self.has_audio and self.has_video:
            return "audio+video"
        return "video" if self.has_video else "audio"


def media_id(content_hash: str) -> str:
    """A media's id: the first 16 hex digits of the SHA-256 of its bytes (same bytes, same id)."""
    return content_hash[:16]


@dataclass(frozen=True)
class Media:
    """One imported file, identified by the SHA-256 of its bytes.

    ``path`` is where the bytes are read from: the original location for files
    referenced in place, or the copy in the store (``stored=True``) for uploads.
    """

    id: str
    path: str
    name: str
    content_hash: str
    size_bytes: int
    info: MediaInfo
    stored: bool = False
    status: str = "imported"
    speaker: str | None = None
    created_at: datetime | None = None

    @property
    def duration(self) -> float:
        return self.info.duration


@dataclass(frozen=True)
class Segment:
    """A time span of a media: a VAD speech region or a transcript span (with text)."""

    id: str | None
    media_id: str
    kind: SegmentKind
    start: float
    duration: float
    text: str | None = None
    source: str | None = None
    speaker: str | None = None
    language: str | None = None
    """The spoken language of a transcript span (ISO 639-1) where speech recognition
    detected it; None for transcripts people gave."""

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Chunk:
    """The unit curves are drawn in: it owns ``[start, start + duration)`` and is analysed
    through windows of several widths (one per scale) centred on its centre."""

    index: int
    start: float
    duration: float
    windows: tuple[tuple[float, float], ...]
    """``(start, duration)`` per scale, centred on ``center`` and clipped to the media."""

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def center(self) -> float:
        return self.start + self.duration / 2


@dataclass(frozen=True)
class Annotation:
    """A label someone (or something) gave a media, or a span of it when ``start`` is set.

    Annotations are append-only: a correction is a new annotation naming what it
    corrects, so nothing a person entered is ever overwritten.
    """

    id: int | None
    media_id: str
    source: AnnotationSource
    annotator: str
    label: str | None = None
    raw_label: str | None = None
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None
    start: float | None = None
    duration: float | None = None
    confidence: float | None = None
    corrects_prediction_id: int | None = None
    model_version_id: str | None = None
    origin: str | None = None
    retracts_annotation_id: int | None = None
    """Set on a retraction: a row that hides the annotation it names (nothing is deleted)."""
    created_at: datetime | None = None

    @property
    def end(self) -> float | None:
        if self.start is None or self.duration is None:
            return None
        return self.start + self.duration


@dataclass(frozen=True)
class Prediction:
    """A model's output for a whole clip (``level='clip'``), one annotation unit (a speech
    segment, ``level='segment'``) or one chunk."""

    id: int | None
    media_id: str
    model_version_id: str
    extractor: str
    level: Literal["clip", "segment", "chunk"]
    start: float
    duration: float
    basic: dict[str, float] = field(default_factory=dict)
    compound: dict[str, float] = field(default_factory=dict)
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None
    modalities: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def top_label(self) -> str | None:
        return max(self.basic, key=self.basic.get) if self.basic else None

    @property
    def margin(self) -> float:
        """Top-1 minus top-2 probability: small means the model hesitates between two emotions."""
        top = sorted(self.basic.values(), reverse=True) + [0.0, 0.0]
        return top[0] - top[1]

    @property
    def entropy(self) -> float:
        """Shannon entropy of the basic-emotion distribution, in nats."""
        return -sum(p * math.log(p) for p in self.basic.values() if p > 0)


@dataclass(frozen=True)
class Caption:
    """A sentence on how the speaker feels and sounds: generated (``source='model'``) or
    written by a person (``source='human'``). Append-only like annotations: an edit is a
    new caption naming the one it corrects."""

    id: int | None
    media_id: str
    text: str
    source: Literal["model", "human"]
    annotator: str | None = None
    start: float | None = None
    duration: float | None = None
    model_version_id: str | None = None
    corrects_caption_id: int | None = None
    score: float | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Trace:
    """A continuous rating (CARMA / DARMA style): one dimension traced by one annotator
    while the media played, sampled on the media's own time axis at ``rate`` Hz from
    ``start``. ``values`` holds one number in -1..1 per sample, None where the annotator
    skipped that moment (a seek during the pass). Append-only: each pass is a new trace.
    """

    id: int | None
    media_id: str
    annotator: str
    dimension: str
    start: float
    rate: float
    values: tuple[float | None, ...]
    pass_number: int = 1
    model_version_id: str | None = None
    created_at: datetime | None = None

    @property
    def duration(self) -> float:
        return len(self.values) / self.rate

    @property
    def end(self) -> float:
        return self.start + self.duration

    def times(self) -> list[float]:
        """The media time of each sample (the middle of its 1/rate slot)."""
        return [self.start + (i + 0.5) / self.rate for i in range(len(self.values))]


EMOTION_MODEL = "emotion"
"""The kind of model version the studio analyses with (one active at a time per kind)."""


@dataclass(frozen=True)
class ModelVersion:
    """A trained model on disk (``path``: a folder with safetensors + JSON config) and how it scored."""

    id: str
    kind: str
    path: str
    label_space: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    parent_id: str | None = None
    job_id: int | None = None
    active: bool = False
    created_at: datetime | None = None


ANALYZE_JOB = "analyze"
"""The job kind that analyses media with the active model version."""
FINETUNE_JOB = "finetune"
"""Supervised fine-tuning of the active version on people's (and imported) labels."""
SELFTRAIN_JOB = "selftrain"
"""Self-training: the library's unlabelled media, pseudo-labelled where the model is sure, join the labels."""
RANKERS_JOB = "rankers"
"""Chunk-level emotion rankers from the labels; the chunk model learns its A/V/D curves from theirs."""
ALIGN_JOB = "align"
"""Audio-visual alignment: the face's embeddings pulled toward the voice's, and read by one classifier."""
CAPTION_JOB = "captions"
"""Caption alignment: the audio-to-sentence projection learns from people's edited captions."""
PROXY_JOB = "proxy"
"""Browser-playable copies of imported media a browser cannot play (FLV, AVI, ...)."""
TRAIN_JOBS = (FINETUNE_JOB, SELFTRAIN_JOB, RANKERS_JOB, ALIGN_JOB, CAPTION_JOB)
"""The job kinds that register a model version."""


@dataclass(frozen=True)
class Job:
    """A unit of background work (training, re-analysis) handed from the UI to a worker."""

    id: int | None
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] = "queued"
    config: dict = field(default_factory=dict)
    progress_completed: float = 0.0
    progress_total: float | None = None
    metrics: dict = field(default_factory=dict)
    log: str = ""
    error: str | None = None
    worker: str | None = None
    model_version_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    attempts: int = 0
    """How many times a worker died while running it (it is then re-queued)."""
    current_item: str | None = None
    requested_by: str | None = None
    used_media_ids: tuple[str, ...] = ()
    """The media a training job learned from (its held-out media included), set when it registers its version."""
    used_annotation_ids: tuple[int, ...] = ()
    """The annotations it learned from and was measured against."""


@dataclass(frozen=True)
class Process:
    """A running studio server or worker (``name`` is ``host:pid``) and its last heartbeat."""

    name: str
    role: Literal["server", "worker"]
    host: str
    pid: int
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    job_id: int | None = None
    stopped_at: datetime | None = None


Role = Literal["viewer", "annotator", "admin"]


@dataclass(frozen=True)
class User:
    """Someone who signs in: a viewer looks and exports, an annotator also corrects and
    uploads, an admin also imports server folders, trains, switches models, deletes media."""

    name: str
    role: Role
    disabled: bool = False
    created_at: datetime | None = None
