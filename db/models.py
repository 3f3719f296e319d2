"""SQLAlchemy 2.x tables. The schema is owned by the Alembic migrations in
``db/migrations``; these classes must match them (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class MediaRow(Base):
    __tablename__ = "media"
    # the library table sorts and filters in SQL
    __table_args__ = (
        Index("ix_media_created", "created_at", "name"),
        Index("ix_media_name", "name"),
        Index("ix_media_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(512))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    stored: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32), default="imported")
    speaker: Mapped[str | None] = mapped_column(String(128))
    container: Mapped[str] = mapped_column(String(64))
    duration: Mapped[float] = mapped_column(Float)
    has_audio: Mapped[bool] = mapped_column(Boolean)
    has_video: Mapped[bool] = mapped_column(Boolean)
    audio_codec: Mapped[str | None] = mapped_column(String(64))
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    video_codec: Mapped[str | None] = mapped_column(String(64))
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MediaFileRow(Base):
    """Every path a media's bytes were seen at, with size and mtime, so re-importing
    an unchanged file skips hashing and byte-identical files are known as aliases."""

    __tablename__ = "media_files"

    path: Mapped[str] = mapped_column(Text, primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)


class SegmentRow(Base):
    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_media_kind", "media_id", "kind", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # speech | transcript
    start: Mapped[float] = mapped_column(Float)
    duration: Mapped[float] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(256))
    speaker: Mapped[str | None] = mapped_column(String(128))
    language: Mapped[str | None] = mapped_column(String(16))  # ISO 639-1, as speech recognition detected it


class FeatureCacheRow(Base):
    __tablename__ = "feature_cache"
    __table_args__ = (UniqueConstraint("media_id", "extractor", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    extractor: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    frame_rate: Mapped[float | None] = mapped_column(Float)
    shape: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    label_space: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    # No foreign key: jobs already point at model_versions, and a cycle would need
    # ALTER TABLE constraints that SQLite cannot add.
    job_id: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PredictionRow(Base):
    """Clip- and segment-level predictions (chunk-level outputs are in ``chunk_arrays`` files)."""

    __tablename__ = "predictions"
    __table_args__ = (
        # superseded in the key: a media's current clip prediction is four equal columns, which
        # SQLite's planner prefers to the queue indexes below when it joins the library to it
        Index("ix_predictions_media_model", "media_id", "model_version_id", "level", "superseded", "start"),
        # the uncertainty queue: a version's current segments, most uncertain first
        Index("ix_predictions_queue_margin", "model_version_id", "level", "superseded", "margin"),
        Index("ix_predictions_queue_entropy", "model_version_id", "level", "superseded", "entropy"),
        Index("ix_predictions_queue_label", "model_version_id", "level", "superseded", "top_label", "margin"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    extractor: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(8))  # clip | chunk
    start: Mapped[float] = mapped_column(Float)
    duration: Mapped[float] = mapped_column(Float)
    basic: Mapped[dict] = mapped_column(JSON, default=dict)
    compound: Mapped[dict] = mapped_column(JSON, default=dict)
    arousal: Mapped[float | None] = mapped_column(Float)
    valence: Mapped[float | None] = mapped_column(Float)
    dominance: Mapped[float | None] = mapped_column(Float)
    modalities: Mapped[dict] = mapped_column(JSON, default=dict)
    top_label: Mapped[str | None] = mapped_column(String(64))
    """The likeliest basic emotion (the library's "top emotion" filter, the balanced queue)."""
    margin: Mapped[float | None] = mapped_column(Float)
    """Top-1 minus top-2 basic probability, stored so the uncertainty queue is an indexed query."""
    entropy: Mapped[float | None] = mapped_column(Float)
    # A re-analysis marks the run it replaces superseded instead of deleting it: a
    # correction may still be on its way for a prediction someone is looking at.
    superseded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChunkArrayRow(Base):
    """A media's chunk-level outputs by one model version: one safetensors file under the
    data folder (``db.arrays``), named here with its checksum. Superseded like predictions."""

    __tablename__ = "chunk_arrays"
    __table_args__ = (Index("ix_chunk_arrays_media_model", "media_id", "model_version_id", "superseded"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    extractor: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(Text)
    """Relative to the data folder's ``arrays`` folder."""
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnnotationRow(Base):
    """Append-only: rows are inserted, never updated or deleted by the application."""

    __tablename__ = "annotations"
    __table_args__ = (
        Index("ix_annotations_media", "media_id", "created_at"),
        Index("ux_annotations_dedup_key", "dedup_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="RESTRICT"))
    source: Mapped[str] = mapped_column(String(16))  # human | import | pseudo
    annotator: Mapped[str] = mapped_column(String(128))
    label: Mapped[str | None] = mapped_column(String(64))
    raw_label: Mapped[str | None] = mapped_column(String(128))
    arousal: Mapped[float | None] = mapped_column(Float)
    valence: Mapped[float | None] = mapped_column(Float)
    dominance: Mapped[float | None] = mapped_column(Float)
    start: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    corrects_prediction_id: Mapped[int | None] = mapped_column(ForeignKey("predictions.id"))
    model_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    origin: Mapped[str | None] = mapped_column(Text)  # e.g. "labels.csv:12"
    # Set for imported labels only: importing the same line twice, even from two
    # processes at once, stores it once (NULLs never collide, so human rows are free).
    dedup_key: Mapped[str | None] = mapped_column(String(64))
    retracts_annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TraceRow(Base):
    """Continuous ratings, one row per pass (append-only); ``values`` is a JSON list."""

    __tablename__ = "traces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="RESTRICT"), index=True)
    annotator: Mapped[str] = mapped_column(String(128))
    dimension: Mapped[str] = mapped_column(String(16))
    pass_number: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    rate: Mapped[float] = mapped_column(Float)
    values: Mapped[list] = mapped_column(JSON)
    model_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CaptionRow(Base):
    """Generated captions (source=model) and human edits (source=human), append-only."""

    __tablename__ = "captions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media.id", ondelete="RESTRICT"), index=True)
    start: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    annotator: Mapped[str | None] = mapped_column(String(128))
    model_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    corrects_caption_id: Mapped[int | None] = mapped_column(ForeignKey("captions.id"))
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    progress_completed: Mapped[float] = mapped_column(Float, default=0.0)
    progress_total: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    log: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    current_item: Mapped[str | None] = mapped_column(String(64))
    """What the job is working on now (a media id), so a dead worker's job knows where it stopped."""
    requested_by: Mapped[str | None] = mapped_column(String(64))
    used_annotation_ids: Mapped[list] = mapped_column(JSON, default=list)
    used_media_ids: Mapped[list] = mapped_column(JSON, default=list)
    model_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserRow(Base):
    """A person who signs in to the studio; passwords are stored as argon2 hashes only."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer | annotator | admin
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProcessRow(Base):
    """A running studio server or worker and its last sign of life (heartbeat)."""

    __tablename__ = "processes"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid
    role: Mapped[str] = mapped_column(String(16))  # server | worker
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    job_id: Mapped[int | None] = mapped_column(Integer)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
