"""The one place that converts database rows to and from the plain dataclasses in
``emostudio.core.domain``. Services receive a ``Repository``, never a ``Session``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
from sqlalchemy import Engine, Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from emostudio.core.domain import (
    EMOTION_MODEL,
    Annotation,
    Caption,
    Job,
    Media,
    MediaInfo,
    ModelVersion,
    Prediction,
    Process,
    Segment,
    Trace,
    User,
)
from emostudio.core.series import ChunkSeries
from emostudio.db.arrays import ChunkFileError, ChunkStore, StoredFile
from emostudio.db.models import (
    AnnotationRow,
    CaptionRow,
    ChunkArrayRow,
    FeatureCacheRow,
    JobRow,
    MediaFileRow,
    MediaRow,
    ModelVersionRow,
    PredictionRow,
    ProcessRow,
    SegmentRow,
    TraceRow,
    UserRow,
)
from emostudio.db.session import DatabaseError, default_arrays_dir, storage_error

_INFO_FIELDS = tuple(MediaInfo.__dataclass_fields__)
_ANNOTATION_FIELDS = tuple(f for f in Annotation.__dataclass_fields__ if f not in ("id", "created_at"))


def _media(row: MediaRow) -> Media:
    return Media(
        id=row.id,
        path=row.path,
        name=row.name,
        content_hash=row.content_hash,
        size_bytes=row.size_bytes,
        info=MediaInfo(**{f: getattr(row, f) for f in _INFO_FIELDS}),
        stored=row.stored,
        status=row.status,
        speaker=row.speaker,
        created_at=row.created_at,
    )


def _segment(row) -> Segment:  # a SegmentRow or a plain row of its columns
    return Segment(
        id=str(row.id),
        media_id=row.media_id,
        kind=row.kind,
        start=row.start,
        duration=row.duration,
        text=row.text,
        source=row.source,
        speaker=row.speaker,
        language=row.language,
    )


def _annotation(row: AnnotationRow) -> Annotation:
    return Annotation(id=row.id, created_at=row.created_at, **{f: getattr(row, f) for f in _ANNOTATION_FIELDS})


def _model_version(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        kind=row.kind,
        path=row.path,
        label_space=row.label_space or {},
        metrics=row.metrics or {},
        parent_id=row.parent_id,
        job_id=row.job_id,
        active=row.active,
        created_at=row.created_at,
    )


def _version_row(version: ModelVersion) -> ModelVersionRow:
    """A new registry row for ``version``, inactive (activation is its own step)."""
    return ModelVersionRow(
        id=version.id,
        kind=version.kind,
        path=version.path,
        label_space=version.label_space,
        metrics=version.metrics,
        parent_id=version.parent_id,
        job_id=version.job_id,
        active=False,
    )


def _prediction(row) -> Prediction:  # a PredictionRow or a plain row of its columns
    return Prediction(
        id=row.id,
        media_id=row.media_id,
        model_version_id=row.model_version_id,
        extractor=row.extractor,
        level=row.level,
        start=row.start,
        duration=row.duration,
        basic=row.basic or {},
        compound=row.compound or {},
        arousal=row.arousal,
        valence=row.valence,
        dominance=row.dominance,
        modalities=row.modalities or {},
    )


def _prediction_row(p: Prediction) -> PredictionRow:
    return PredictionRow(
        media_id=p.media_id,
        model_version_id=p.model_version_id,
        extractor=p.extractor,
        level=p.level,
        start=p.start,
        duration=p.duration,
        basic=p.basic,
        compound=p.compound,
        arousal=p.arousal,
        valence=p.valence,
        dominance=p.dominance,
        modalities=p.modalities,
        top_label=p.top_label,
        margin=p.margin if p.basic else None,
        entropy=p.entropy if p.basic else None,
    )


@dataclass(frozen=True)
class ChunkFile:
    """Where one media's chunk outputs by one version are stored."""

    media_id: str
    model_version_id: str
    chunks: int
    start: float
    end: float
    stored: StoredFile


def _chunk_file(row: ChunkArrayRow) -> ChunkFile:
    return ChunkFile(
        row.media_id,
        row.model_version_id,
        row.chunks,
        row.start,
        row.end,
        StoredFile(row.path, row.sha256, row.size_bytes),
    )


_CAPTION_FIELDS = tuple(f for f in Caption.__dataclass_fields__ if f not in ("id", "created_at"))


def _caption(row) -> Caption:  # a CaptionRow or a plain row of its columns
    return Caption(id=row.id, created_at=row.created_at, **{f: getattr(row, f) for f in _CAPTION_FIELDS})


def _trace(row: TraceRow) -> Trace:
    return Trace(
        id=row.id,
        media_id=row.media_id,
        annotator=row.annotator,
        dimension=row.dimension,
        start=row.start,
        rate=row.rate,
        values=tuple(row.values),
        pass_number=row.pass_number,
        model_version_id=row.model_version_id,
        created_at=row.created_at,
    )


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        status=row.status,
        config=row.config or {},
        progress_completed=row.progress_completed,
        progress_total=row.progress_total,
        metrics=row.metrics or {},
        log=row.log or "",
        error=row.error,
        worker=row.worker,
        model_version_id=row.model_version_id,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=_utc(row.heartbeat_at),
        attempts=row.attempts or 0,
        current_item=row.current_item,
        requested_by=row.requested_by,
        used_media_ids=tuple(row.used_media_ids or ()),
        used_annotation_ids=tuple(row.used_annotation_ids or ()),
    )


def _utc(t: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time the studio stores is UTC."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _process(row: ProcessRow) -> Process:
    return Process(
        name=row.name,
        role=row.role,
        host=row.host,
        pid=row.pid,
        started_at=_utc(row.started_at),
        heartbeat_at=_utc(row.heartbeat_at),
        job_id=row.job_id,
        stopped_at=_utc(row.stopped_at),
    )


def _user(row: UserRow) -> User:
    return User(name=row.name, role=row.role, disabled=row.disabled, created_at=row.created_at)


# What an imported label is made of, fixed: a field added to annotations later (e.g.
# ``retracts_annotation_id``) must not change the keys of labels already stored.
_IMPORT_KEY_FIELDS = (
    "media_id", "source", "annotator", "label", "raw_label", "arousal", "valence", "dominance", "start",
    "duration", "confidence", "corrects_prediction_id", "model_version_id",
)  # fmt: skip


def import_key(annotation: Annotation) -> str:
    """What makes two imported labels the same: everything but id, time and origin line."""
    fields = {f: getattr(annotation, f) for f in _IMPORT_KEY_FIELDS}
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _current(query):
    """``query`` on annotations without retraction rows and the annotations they retract."""
    retracted = select(AnnotationRow.retracts_annotation_id).where(AnnotationRow.retracts_annotation_id.is_not(None))
    return query.where(AnnotationRow.retracts_annotation_id.is_(None), AnnotationRow.id.not_in(retracted))


def _plain(table) -> Select:
    """A select of ``table``'s columns as plain rows, for reads of many rows (an hour's
    segments, captions and segment predictions open with every clip page): the ORM objects
    a ``select(table)`` builds cost three times the read, and nothing here changes them."""
    return select(*table.__table__.columns)


def _matching(query, table, **equal):
    """``query`` narrowed to rows whose columns equal the values given (None: any)."""
    for column, value in equal.items():
        if value:
            query = query.where(getattr(table, column) == value)
    return query


def _insert(session: Session):
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


@dataclass(frozen=True)
class MediaSummary:
    """A media with the counts the library table shows."""

    media: Media
    segments: int
    transcript_segments: int
    labels: int
    """People's and imported labels."""
    pseudo_labels: int = 0
    """Self-training's guesses (never counted as labels)."""


@dataclass(frozen=True)
class LibraryEntry:
    """A media as one row of the library page."""

    media: Media
    top_label: str | None
    """The likeliest emotion of the whole media, by the version asked for."""
    human_labels: int
    labels: int
    """People's and imported labels."""
    pseudo_labels: int


class Repository:
    def __init__(self, engine: Engine, arrays_dir: Path | None = None):
        """``arrays_dir``: where chunk-level outputs are stored as files (default: the
        ``arrays`` folder beside a SQLite database)."""
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        folder = arrays_dir or default_arrays_dir(engine.url.render_as_string(hide_password=False))
        self.chunk_store = ChunkStore(folder) if folder is not None else None

    def session(self) -> Session:
        return self._sessions()

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session in one transaction; a refusal (disk full, read-only, locked) is a
        ``StorageError`` (the engine's error handler in ``db.session`` makes it one)."""
        with self.session() as s, s.begin():
            yield s

    # -- media ---------------------------------------------------------------

    def media_for_file(self, path: str, size_bytes: int, mtime_ns: int) -> Media | None:
        """The media last seen at ``path``, if the file is unchanged since (same size and mtime)."""
        with self.session() as s:
            f = s.get(MediaFileRow, path)
            if f is None or f.size_bytes != size_bytes or f.mtime_ns != mtime_ns:
                return None
            return _media(s.get(MediaRow, f.media_id))

    def media_by_hash(self, content_hash: str) -> Media | None:
        with self.session() as s:
            row = s.scalar(select(MediaRow).where(MediaRow.content_hash == content_hash))
            return _media(row) if row else None

    def get_media(self, media_id: str) -> Media | None:
        with self.session() as s:
            row = s.get(MediaRow, media_id)
            return _media(row) if row else None

    def add_media(self, media: Media, segments: Sequence[Segment] = ()) -> bool:
        """Insert a media with its first segments in one transaction: all or nothing.
        False when another importer stored the same bytes meanwhile (nothing written)."""
        try:
            self._insert_media(media, segments)
        except IntegrityError:
            if self.media_by_hash(media.content_hash) is None:
                raise DatabaseError(f"{media.name} could not be stored (it conflicts with stored data)") from None
            return False
        return True

    def _insert_media(self, media: Media, segments: Sequence[Segment]) -> None:
        with self.writing() as s:
            s.add(
                MediaRow(
                    id=media.id,
                    content_hash=media.content_hash,
                    path=media.path,
                    name=media.name,
                    size_bytes=media.size_bytes,
                    stored=media.stored,
                    status=media.status,
                    speaker=media.speaker,
                    **{f: getattr(media.info, f) for f in _INFO_FIELDS},
                )
            )
            s.flush()
            s.add_all(_segment_rows(segments))

    def remember_file(self, path: str, media_id: str, size_bytes: int, mtime_ns: int) -> None:
        values = {"path": path, "media_id": media_id, "size_bytes": size_bytes, "mtime_ns": mtime_ns}
        with self.writing() as s:  # an upsert: two importers of one file at once both succeed
            stmt = _insert(s)(MediaFileRow).values(**values)
            s.execute(stmt.on_conflict_do_update(index_elements=["path"], set_=values))

    def set_media_status(self, media_id: str, status: str, only_if: str | None = None) -> None:
        """Set a media's status (``only_if``: when it is still in that status)."""
        with self.writing() as s:
            q = update(MediaRow).where(MediaRow.id == media_id)
            if only_if is not None:
                q = q.where(MediaRow.status == only_if)
            s.execute(q.values(status=status))

    def set_media_speaker(self, media_id: str, speaker: str) -> None:
        with self.writing() as s:
            s.execute(
                update(MediaRow).where(MediaRow.id == media_id, MediaRow.speaker.is_(None)).values(speaker=speaker)
            )

    def list_media(self) -> list[MediaSummary]:
        with self.session() as s:
            seg = dict(
                s.execute(
                    select(SegmentRow.media_id, func.count())
                    .where(SegmentRow.kind == "speech")
                    .group_by(SegmentRow.media_id)
                ).all()
            )
            txt = dict(
                s.execute(
                    select(SegmentRow.media_id, func.count())
                    .where(SegmentRow.kind == "transcript")
                    .group_by(SegmentRow.media_id)
                ).all()
            )
            counts = _current(select(AnnotationRow.media_id, func.count())).group_by(AnnotationRow.media_id)
            lab = dict(s.execute(counts.where(AnnotationRow.source != "pseudo")).all())
            pseudo = dict(s.execute(counts.where(AnnotationRow.source == "pseudo")).all())
            rows = s.scalars(select(MediaRow).order_by(MediaRow.created_at, MediaRow.name)).all()
            return [
                MediaSummary(_media(r), seg.get(r.id, 0), txt.get(r.id, 0), lab.get(r.id, 0), pseudo.get(r.id, 0))
                for r in rows
            ]

    def media_page(
        self,
        model_version_id: str | None,
        *,
        text: str = "",
        status: str = "",
        top_label: str = "",
        annotated: bool | None = None,
        sort: str = "added",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[LibraryEntry], int]:
        """One page of the library, filtered and sorted in SQL, and how many media match.
        ``top_label`` and the entries' top labels are by ``model_version_id``; ``annotated``
        keeps media a person labelled (True) or did not (False)."""
        clip = aliased(PredictionRow)
        joined = (clip.media_id == MediaRow.id) & (clip.model_version_id == model_version_id)
        joined &= (clip.level == "clip") & clip.superseded.is_(False)
        labelled = _current(
            select(AnnotationRow.id).where(AnnotationRow.media_id == MediaRow.id, AnnotationRow.source == "human")
        ).exists()
        q = select(MediaRow, clip.top_label).outerjoin(clip, joined)
        if text:
            needle = f"%{text.lower().replace('%', '').replace('_', '')}%"
            q = q.where(func.lower(MediaRow.name).like(needle) | func.lower(MediaRow.id).like(needle))
        if status:
            q = q.where(MediaRow.status == status)
        if top_label:
            q = q.where(clip.top_label == top_label)
        if annotated is not None:
            q = q.where(labelled if annotated else ~labelled)
        keys = {
            "added": (MediaRow.created_at, MediaRow.name),
            "name": (MediaRow.name, MediaRow.id),
            "duration": (MediaRow.duration, MediaRow.name),
            "status": (MediaRow.status, MediaRow.name),
            "top emotion": (clip.top_label, MediaRow.name),
        }
        if sort not in keys:
            raise ValueError(f"unknown sort {sort!r} ({', '.join(keys)})")
        order = [k.desc() if descending else k.asc() for k in keys[sort]]
        with self.session() as s:
            total = s.scalar(select(func.count()).select_from(q.subquery()))
            rows = s.execute(q.order_by(*order, MediaRow.id).offset(offset).limit(limit)).all()
            ids = [m.id for m, _ in rows]
            counts = _current(select(AnnotationRow.media_id, AnnotationRow.source, func.count())).where(
                AnnotationRow.media_id.in_(ids)
            )
            by_source: dict[tuple[str, str], int] = {
                (m, src): n for m, src, n in s.execute(counts.group_by(AnnotationRow.media_id, AnnotationRow.source))
            }
        return [
            LibraryEntry(
                _media(m),
                top,
                by_source.get((m.id, "human"), 0),
                sum(n for (mid, src), n in by_source.items() if mid == m.id and src != "pseudo"),
                by_source.get((m.id, "pseudo"), 0),
            )
            for m, top in rows
        ], total

    # -- segments ------------------------------------------------------------

    def add_segments(self, segments: Iterable[Segment]) -> int:
        rows = _segment_rows(segments)
        with self.writing() as s:
            s.add_all(rows)
        return len(rows)

    def media_stamp(self, media_id: str) -> tuple:
        """What changes when anything a clip page shows of the media changes (its segments,
        annotations, traces or captions): each table's row count and highest id."""
        with self.session() as s:
            return tuple(
                tuple(s.execute(select(func.count(), func.max(row.id)).where(row.media_id == media_id)).one())
                for row in (SegmentRow, AnnotationRow, TraceRow, CaptionRow)
            )

    def segments(self, media_id: str, kind: str | None = None) -> list[Segment]:
        with self.session() as s:
            q = _plain(SegmentRow).where(SegmentRow.media_id == media_id)
            if kind:
                q = q.where(SegmentRow.kind == kind)
            return [_segment(r) for r in s.execute(q.order_by(SegmentRow.start))]

    def has_segments(self, media_id: str, kind: str, source: str | None = None) -> bool:
        with self.session() as s:
            q = select(SegmentRow.id).where(SegmentRow.media_id == media_id, SegmentRow.kind == kind)
            if source is not None:
                q = q.where(SegmentRow.source == source)
            return s.scalar(q.limit(1)) is not None

    # -- annotations (append-only) --------------------------------------------

    def add_annotation(self, annotation: Annotation) -> Annotation:
        """Append an annotation. A correction whose prediction was since removed (its
        media deleted and re-imported) is still stored, without the dangling reference."""
        values = {f: getattr(annotation, f) for f in _ANNOTATION_FIELDS}
        with self.writing() as s:
            if s.get(MediaRow, values["media_id"]) is None:
                raise DatabaseError("this media was deleted from the library; the annotation cannot be attached to it")
            if (
                values["corrects_prediction_id"] is not None
                and s.get(PredictionRow, values["corrects_prediction_id"]) is None
            ):
                values["corrects_prediction_id"] = None
            if values["model_version_id"] is not None and s.get(ModelVersionRow, values["model_version_id"]) is None:
                values["model_version_id"] = None
            row = AnnotationRow(**values)
            s.add(row)
        return _annotation(row)

    def import_annotation(self, annotation: Annotation) -> bool:
        """Store an imported label once: False when the same label is already there
        (also when another process imports the same file at the same moment)."""
        values = {f: getattr(annotation, f) for f in _ANNOTATION_FIELDS}
        with self.writing() as s:
            stmt = _insert(s)(AnnotationRow).values(
                **values, dedup_key=import_key(annotation), created_at=datetime.now(UTC)
            )
            return s.execute(stmt.on_conflict_do_nothing(index_elements=["dedup_key"])).rowcount == 1

    def annotations(
        self,
        media_id: str | None = None,
        source: str | None = None,
        annotator: str | None = None,
        history: bool = False,
        media_ids: Sequence[str] | None = None,
    ) -> list[Annotation]:
        """Annotations, oldest first. A retracted annotation and the row retracting it are
        left out unless ``history`` (the export's full record) asks for every row."""
        with self.session() as s:
            q = _matching(select(AnnotationRow), AnnotationRow, media_id=media_id, source=source, annotator=annotator)
            if media_ids is not None:
                q = q.where(AnnotationRow.media_id.in_(media_ids))
            if not history:
                q = _current(q)
            return [_annotation(r) for r in s.scalars(q.order_by(AnnotationRow.id))]

    def get_annotation(self, annotation_id: int) -> Annotation | None:
        with self.session() as s:
            row = s.get(AnnotationRow, annotation_id)
            return _annotation(row) if row is not None else None

    def media_annotated_by(self, at_least: int = 1, source: str = "human") -> list[str]:
        """Media that ``at_least`` different annotators labelled (current labels of ``source``)."""
        a = AnnotationRow
        q = _current(select(a.media_id).where(a.source == source)).group_by(a.media_id)
        q = q.having(func.count(a.annotator.distinct()) >= at_least)
        with self.session() as s:
            return list(s.scalars(q.order_by(a.media_id)))

    def human_annotation_counts(self) -> dict[str, int]:
        """Media id -> how many annotations people made on it (imports and pseudo-labels not counted)."""
        with self.session() as s:
            q = _current(select(AnnotationRow.media_id, func.count()).where(AnnotationRow.source == "human"))
            return dict(s.execute(q.group_by(AnnotationRow.media_id)).all())

    # -- continuous ratings (append-only) ---------------------------------------

    def add_trace(self, trace: Trace) -> Trace:
        """Append a trace as the annotator's next pass over that media and dimension."""
        with self.writing() as s:
            if s.get(MediaRow, trace.media_id) is None:
                raise DatabaseError("this media was deleted from the library; the trace cannot be attached to it")
            version = trace.model_version_id
            if version is not None and s.get(ModelVersionRow, version) is None:
                version = None
            passes = s.scalar(
                select(func.count()).where(
                    TraceRow.media_id == trace.media_id,
                    TraceRow.annotator == trace.annotator,
                    TraceRow.dimension == trace.dimension,
                )
            )
            row = TraceRow(
                media_id=trace.media_id,
                annotator=trace.annotator,
                dimension=trace.dimension,
                pass_number=passes + 1,
                start=trace.start,
                rate=trace.rate,
                values=list(trace.values),
                model_version_id=version,
            )
            s.add(row)
        return _trace(row)

    def traces(
        self, media_id: str | None = None, annotator: str | None = None, dimension: str | None = None
    ) -> list[Trace]:
        with self.session() as s:
            q = _matching(select(TraceRow), TraceRow, media_id=media_id, annotator=annotator, dimension=dimension)
            return [_trace(r) for r in s.scalars(q.order_by(TraceRow.id))]

    # -- captions (append-only) ------------------------------------------------

    def add_caption(self, caption: Caption) -> Caption:
        row = CaptionRow(**{f: getattr(caption, f) for f in _CAPTION_FIELDS})
        with self.writing() as s:
            if s.get(MediaRow, caption.media_id) is None:
                raise DatabaseError("this media was deleted from the library; the caption cannot be attached to it")
            s.add(row)
        return _caption(row)

    def captions(self, media_id: str | None = None, source: str | None = None) -> list[Caption]:
        """Captions, oldest first: of one media or the whole library, of one source or both."""
        with self.session() as s:
            q = _matching(_plain(CaptionRow), CaptionRow, media_id=media_id, source=source)
            return [_caption(r) for r in s.execute(q.order_by(CaptionRow.id))]

    # -- feature cache ---------------------------------------------------------

    def record_features(
        self, media_id: str, extractor: str, version: str, path: str, frame_rate: float, shape: list[int]
    ) -> None:
        with self.writing() as s:
            row = s.scalar(
                select(FeatureCacheRow).where(
                    FeatureCacheRow.media_id == media_id,
                    FeatureCacheRow.extractor == extractor,
                    FeatureCacheRow.version == version,
                )
            )
            if row is None:
                s.add(
                    FeatureCacheRow(
                        media_id=media_id,
                        extractor=extractor,
                        version=version,
                        path=path,
                        frame_rate=frame_rate,
                        shape=shape,
                    )
                )
            else:
                row.path, row.frame_rate, row.shape = path, frame_rate, shape

    def cached_features(self, media_id: str) -> list[tuple[str, str, str]]:
        """(extractor, version, path) of every cached feature of a media."""
        with self.session() as s:
            rows = s.scalars(select(FeatureCacheRow).where(FeatureCacheRow.media_id == media_id))
            return [(r.extractor, r.version, r.path) for r in rows]

    # -- model versions --------------------------------------------------------

    def add_model_version(self, version: ModelVersion) -> ModelVersion:
        """Register a model version (idempotent on its id); ``active`` makes it the one analysis uses."""
        with self.writing() as s:
            row = s.get(ModelVersionRow, version.id)
            if row is None:
                row = _version_row(version)
                s.add(row)
            if version.active:
                s.execute(update(ModelVersionRow).where(ModelVersionRow.kind == version.kind).values(active=False))
                row.active = True
        return self.get_model_version(version.id)

    def activate_model_version(self, version_id: str) -> ModelVersion:
        """Make ``version_id`` the one analysis and the UI use for its kind."""
        with self.writing() as s:
            row = s.get(ModelVersionRow, version_id)
            if row is None:
                raise KeyError(f"no model version {version_id!r}")
            s.execute(update(ModelVersionRow).where(ModelVersionRow.kind == row.kind).values(active=False))
            row.active = True
        return self.get_model_version(version_id)

    def get_model_version(self, version_id: str) -> ModelVersion | None:
        with self.session() as s:
            row = s.get(ModelVersionRow, version_id)
            return _model_version(row) if row else None

    def active_model_version(self, kind: str = EMOTION_MODEL) -> ModelVersion | None:
        with self.session() as s:
            row = s.scalar(select(ModelVersionRow).where(ModelVersionRow.kind == kind, ModelVersionRow.active))
            return _model_version(row) if row else None

    def list_model_versions(self, kind: str | None = EMOTION_MODEL) -> list[ModelVersion]:
        with self.session() as s:
            q = select(ModelVersionRow).order_by(ModelVersionRow.created_at)
            if kind:
                q = q.where(ModelVersionRow.kind == kind)
            return [_model_version(r) for r in s.scalars(q)]

    # -- predictions -----------------------------------------------------------

    def replace_predictions(
        self,
        media_id: str,
        model_version_id: str,
        predictions: Sequence[Prediction],
        captions: Sequence[Caption] = (),
        chunks: ChunkSeries | None = None,
        waveform: tuple[np.ndarray, float] | None = None,
    ) -> None:
        """Store a media's predictions by one model version, and the captions it wrote with
        them (in one transaction); that version's earlier run is kept, marked superseded,
        never deleted: someone may have it open and be about to save a correction that
        names one of its predictions. (Captions are append-only: the newest are current.)

        Chunk-level outputs (``chunks``, or chunk-level ``predictions``) go to one file
        under the arrays folder, written before the transaction; rows hold the clip and
        segments. ``waveform`` (the media's peaks and their frame rate) adds its overview
        to the chunk file."""
        chunk_preds = [p for p in predictions if p.level == "chunk"]
        if chunk_preds:
            if chunks is not None:
                raise ValueError("give chunk outputs either as a series or as predictions, not both")
            chunks = ChunkSeries.from_predictions(chunk_preds)
        stored = self._store_chunks(chunks, waveform) if chunks is not None and len(chunks) else None
        with self.writing() as s:
            s.add_all(CaptionRow(**{f: getattr(c, f) for f in _CAPTION_FIELDS}) for c in captions)
            for table in (PredictionRow, ChunkArrayRow):
                s.execute(
                    update(table)
                    .where(
                        table.media_id == media_id,
                        table.model_version_id == model_version_id,
                        table.superseded.is_(False),
                    )
                    .values(superseded=True)
                )
            s.add_all(_prediction_row(p) for p in predictions if p.level != "chunk")
            if stored is not None:
                s.add(
                    ChunkArrayRow(
                        media_id=media_id,
                        model_version_id=model_version_id,
                        extractor=chunks.extractor,
                        path=stored.path,
                        sha256=stored.sha256,
                        size_bytes=stored.size_bytes,
                        chunks=len(chunks),
                        start=float(chunks.start[0]),
                        end=chunks.end,
                    )
                )

    def _store_chunks(self, chunks: ChunkSeries, waveform) -> StoredFile:
        if self.chunk_store is None:
            raise DatabaseError("chunk predictions need a folder for their files: open the studio with a data folder")
        try:
            return self.chunk_store.write(chunks, waveform)
        except OSError as err:
            raise storage_error(str(err)) from None

    def corrections_of_earlier_runs(self, media_id: str, model_version_id: str) -> int:
        """How many annotations correct a superseded prediction of this media and version."""
        with self.session() as s:
            return s.scalar(
                _current(select(func.count(AnnotationRow.id)))
                .join(PredictionRow, AnnotationRow.corrects_prediction_id == PredictionRow.id)
                .where(
                    PredictionRow.media_id == media_id,
                    PredictionRow.model_version_id == model_version_id,
                    PredictionRow.superseded.is_(True),
                )
            )

    def clip_probabilities(self, model_version_id: str) -> dict[str, dict[str, float]]:
        """Media id -> clip-level basic-emotion probabilities by one model version (the
        library table's "top emotion"; reads one JSON column instead of whole predictions)."""
        with self.session() as s:
            q = select(PredictionRow.media_id, PredictionRow.basic).where(
                PredictionRow.model_version_id == model_version_id,
                PredictionRow.level == "clip",
                PredictionRow.superseded.is_(False),
            )
            return {media_id: basic or {} for media_id, basic in s.execute(q)}

    def get_prediction(self, prediction_id: int) -> Prediction | None:
        with self.session() as s:
            row = s.get(PredictionRow, prediction_id)
            return _prediction(row) if row else None

    def predictions(
        self,
        media_id: str | None = None,
        model_version_id: str | None = None,
        level: str | None = None,
        media_ids: Sequence[str] | None = None,
    ) -> list[Prediction]:
        """The current (not superseded) clip and segment predictions matching the filters
        (chunk-level outputs: ``chunk_series``)."""
        if level == "chunk":
            raise ValueError("chunk-level outputs are read with chunk_series(), not predictions()")
        with self.session() as s:
            q = _plain(PredictionRow).where(PredictionRow.superseded.is_(False), PredictionRow.level != "chunk")
            if media_id:
                q = q.where(PredictionRow.media_id == media_id)
            if media_ids is not None:
                q = q.where(PredictionRow.media_id.in_(media_ids))
            if model_version_id:
                q = q.where(PredictionRow.model_version_id == model_version_id)
            if level:
                q = q.where(PredictionRow.level == level)
            q = q.order_by(PredictionRow.media_id, PredictionRow.level, PredictionRow.start)
            return [_prediction(r) for r in s.execute(q)]

    def _not_labelled_by(self, model_version_id: str, annotator: str, top_label: str | None = None):
        """The version's current segment predictions no current span of ``annotator``'s
        covers the middle of (every one when ``annotator`` is empty)."""
        p = PredictionRow
        q = select(p).where(p.model_version_id == model_version_id, p.level == "segment", p.superseded.is_(False))
        if top_label is not None:
            q = q.where(p.top_label == top_label)
        if annotator:
            a = AnnotationRow
            middle = p.start + p.duration / 2
            theirs = select(a.id).where(
                a.media_id == p.media_id,
                a.source == "human",
                a.annotator == annotator,
                a.start <= middle,
                a.start + a.duration > middle,
            )
            q = q.where(~_current(theirs).exists())
        return q

    def uncertain_segments(
        self,
        model_version_id: str,
        annotator: str = "",
        order: str = "margin",
        limit: int | None = None,
        top_label: str | None = None,
    ) -> list[Prediction]:
        """Segment predictions ``annotator`` has not labelled yet, most uncertain first:
        smallest ``margin`` or largest ``entropy`` (both stored, indexed per version)."""
        p = PredictionRow
        key = {"margin": p.margin.asc(), "entropy": p.entropy.desc()}[order]
        q = self._not_labelled_by(model_version_id, annotator, top_label).order_by(key, p.media_id, p.start)
        with self.session() as s:
            return [_prediction(r) for r in s.scalars(q.limit(limit))]

    def count_uncertain(self, model_version_id: str, annotator: str = "") -> int:
        q = self._not_labelled_by(model_version_id, annotator)
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(q.subquery()))

    def segment_top_labels(self, model_version_id: str) -> list[str]:
        """The emotions the version predicts for at least one current segment."""
        p = PredictionRow
        q = select(p.top_label).where(
            p.model_version_id == model_version_id, p.level == "segment", p.superseded.is_(False)
        )
        with self.session() as s:
            return sorted(t for t in s.scalars(q.distinct()) if t is not None)

    def iter_predictions(self, model_version_id: str, level: str, batch: int = 2_000) -> Iterator[Prediction]:
        """The version's current predictions of one level, streamed in media and time
        order (an export of a large library never holds them all)."""
        q = select(PredictionRow).where(
            PredictionRow.superseded.is_(False),
            PredictionRow.model_version_id == model_version_id,
            PredictionRow.level == level,
        )
        q = q.order_by(PredictionRow.media_id, PredictionRow.start).execution_options(yield_per=batch)
        with self.session() as s:
            for row in s.scalars(q):
                yield _prediction(row)

    # -- chunk-level outputs -----------------------------------------------------

    def chunk_files(self, model_version_id: str | None = None, media_id: str | None = None) -> list[ChunkFile]:
        """The current runs' chunk files, by media."""
        with self.session() as s:
            q = select(ChunkArrayRow).where(ChunkArrayRow.superseded.is_(False))
            if model_version_id:
                q = q.where(ChunkArrayRow.model_version_id == model_version_id)
            if media_id:
                q = q.where(ChunkArrayRow.media_id == media_id)
            return [
                _chunk_file(r) for r in s.scalars(q.order_by(ChunkArrayRow.media_id, ChunkArrayRow.model_version_id))
            ]

    def chunk_series(
        self,
        media_id: str,
        model_version_id: str,
        start: float | None = None,
        end: float | None = None,
        overview: bool = False,
    ) -> ChunkSeries | None:
        """A media's current chunk outputs by one version: all of them, the chunks
        overlapping ``[start, end)`` (only those are read from disk), or the overview.
        None when that version has not analysed the media."""
        found = self.chunk_files(model_version_id, media_id)
        return self.read_chunks(found[0], start, end, overview) if found else None

    def read_chunks(
        self, file: ChunkFile, start: float | None = None, end: float | None = None, overview: bool = False
    ) -> ChunkSeries:
        return self._reading(lambda store: store.read(file.stored, start, end, overview))

    def waveform_overview(self, media_id: str, model_version_id: str) -> tuple[np.ndarray, float] | None:
        """The overview of a media's waveform saved with that version's chunk outputs:
        (lowest, highest) per frame, and the frame rate."""
        found = self.chunk_files(model_version_id, media_id)
        return self._reading(lambda store: store.read_waveform(found[0].stored)) if found else None

    def _reading(self, read):
        if self.chunk_store is None:
            raise DatabaseError(
                "chunk predictions are files in the data folder, and this studio was opened without one"
            )
        try:
            return read(self.chunk_store)
        except ChunkFileError as err:
            raise DatabaseError(str(err)) from None

    # -- jobs ------------------------------------------------------------------

    def enqueue_job(self, kind: str, config: dict | None = None, requested_by: str | None = None) -> Job:
        row = JobRow(kind=kind, config=config or {}, status="queued", requested_by=requested_by)
        with self.writing() as s:
            s.add(row)
        return _job(row)

    def claim_next_job(self, worker: str, kinds: Iterable[str] | None = None) -> Job | None:
        """Atomically move the oldest queued job to running for ``worker``.

        The conditional UPDATE makes two workers racing for one job safe: only the
        one whose UPDATE still sees status='queued' gets it.
        """
        with self.writing() as s:
            q = select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.id)
            if kinds is not None:
                q = q.where(JobRow.kind.in_(list(kinds)))
            for job_id in s.scalars(q.limit(5)).all():
                now = datetime.now(UTC)
                claimed = s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == "queued")
                    .values(status="running", worker=worker, started_at=now, heartbeat_at=self.now())
                ).rowcount
                if claimed:
                    return _job(s.get(JobRow, job_id))
        return None

    def claim_job(self, job_id: int, worker: str) -> Job | None:
        """Move one queued job to running for ``worker`` (the command line runs the job it
        queued itself); None when it is no longer queued."""
        with self.writing() as s:
            claimed = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "queued")
                .values(status="running", worker=worker, started_at=datetime.now(UTC), heartbeat_at=self.now())
            ).rowcount
            return _job(s.get(JobRow, job_id)) if claimed else None

    def cancel_job(self, job_id: int, by: str | None = None) -> Job | None:
        """Cancel a queued or running job (a running one stops at its next step; it
        registers nothing); None when there is no such job, the job unchanged when it had
        already ended."""
        note = f"cancelled by {by}" if by else "cancelled"
        with self.writing() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status.in_(("queued", "running")))
                .values(
                    status="cancelled",
                    current_item=None,
                    finished_at=datetime.now(UTC),
                    log=func.coalesce(JobRow.log, "") + note + "\n",
                )
            )
        return self.get_job(job_id)

    def register_job_version(
        self,
        version: ModelVersion,
        job_id: int,
        worker: str | None,
        media_ids: Sequence[str],
        annotation_ids: Sequence[int],
        pseudo_labels: Sequence[Annotation] = (),
    ) -> bool:
        """Register the version a job trained, with the media and annotations it used (and
        the pseudo-labels it made, stored as annotations), in one transaction and only while
        ``worker`` still runs the job: a cancelled job, or one given to another worker,
        registers nothing and stores nothing (False)."""
        with self.writing() as s:
            q = update(JobRow).where(JobRow.id == job_id, JobRow.status == "running")
            if worker is not None:
                q = q.where(JobRow.worker == worker)
            owned = s.execute(
                q.values(used_media_ids=list(media_ids), used_annotation_ids=[int(i) for i in annotation_ids])
            ).rowcount
            if not owned:
                return False
            s.add(_version_row(replace(version, job_id=job_id)))
            s.flush()  # the pseudo-labels name the version
            s.add_all(AnnotationRow(**{f: getattr(a, f) for f in _ANNOTATION_FIELDS}) for a in pseudo_labels)
        return True

    def report_job(
        self,
        job_id: int,
        *,
        completed: float | None = None,
        total: float | None = None,
        metrics: dict | None = None,
        log_line: str | None = None,
        current_item: str | None = None,
        worker: str | None = None,
    ) -> bool:
        """Record a job's progress; with ``worker``, only while that worker still runs it
        (False when it was cancelled, or given to another after this one was taken for
        dead). One conditional UPDATE: a cancel or a recovery landing meanwhile is never
        overwritten, and log lines are appended in SQL, never read and written back."""
        values: dict = {"heartbeat_at": self.now()}
        if current_item is not None:
            values["current_item"] = current_item or None
        if completed is not None:
            values["progress_completed"] = completed
        if total is not None:
            values["progress_total"] = total
        if log_line:
            values["log"] = func.coalesce(JobRow.log, "") + log_line.rstrip("\n") + "\n"
        with self.writing() as s:
            if not s.execute(update(JobRow).where(*self._owned(job_id, worker)).values(**values)).rowcount:
                return False
            if metrics:  # the UPDATE above holds the row until this transaction ends
                row = s.get(JobRow, job_id)
                row.metrics = {**(row.metrics or {}), **metrics}
        return True

    @staticmethod
    def _owned(job_id: int, worker: str | None) -> list:
        """The job, and with ``worker`` only while that worker runs it."""
        if worker is None:
            return [JobRow.id == job_id]
        return [JobRow.id == job_id, JobRow.worker == worker, JobRow.status == "running"]

    def finish_job(
        self,
        job_id: int,
        status: str,
        error: str | None = None,
        model_version_id: str | None = None,
        worker: str | None = None,
    ) -> bool:
        """End a job; with ``worker``, only if that worker still runs it (see ``report_job``)."""
        with self.writing() as s:
            done = s.execute(
                update(JobRow)
                .where(*self._owned(job_id, worker))
                .values(
                    status=status,
                    error=error,
                    model_version_id=model_version_id,
                    current_item=None,
                    finished_at=datetime.now(UTC),
                )
            ).rowcount
        return done == 1

    def now(self) -> datetime:
        """The database's clock where several hosts share it (PostgreSQL), else this one's:
        heartbeats are written and judged on one clock."""
        if self.engine.dialect.name == "postgresql":
            with self.session() as s:
                return s.scalar(select(func.now()))
        return datetime.now(UTC)

    def requeue_job(self, job_id: int, worker: str | None, log_line: str) -> bool:
        """Put a running job of a dead ``worker`` back in the queue (attempts + 1); False
        when it is no longer that worker's running job (someone else recovered it)."""
        with self.writing() as s:
            done = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "running", JobRow.worker == worker)
                .values(
                    status="queued",
                    worker=None,
                    attempts=JobRow.attempts + 1,
                    log=func.coalesce(JobRow.log, "") + log_line.rstrip("\n") + "\n",
                )
            ).rowcount
            return done == 1

    def fail_running_job(self, job_id: int, worker: str | None, error: str) -> bool:
        """Fail a running job of a dead ``worker`` (same guard as ``requeue_job``)."""
        with self.writing() as s:
            return (
                s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == "running", JobRow.worker == worker)
                    .values(status="failed", error=error, current_item=None, finished_at=datetime.now(UTC))
                ).rowcount
                == 1
            )

    def get_job(self, job_id: int) -> Job | None:
        with self.session() as s:
            row = s.get(JobRow, job_id)
            return _job(row) if row else None

    def list_jobs(self, status: str | None = None, limit: int = 100) -> list[Job]:
        with self.session() as s:
            q = select(JobRow).order_by(JobRow.id.desc()).limit(limit)
            if status:
                q = q.where(JobRow.status == status)
            return [_job(r) for r in s.scalars(q)]

    def release_stuck_media(self) -> int:
        """No media stays 'analysing' unless a running job is on it right now: one
        conditional UPDATE, so a media a worker starts meanwhile is not touched."""
        busy = select(JobRow.current_item).where(JobRow.status == "running", JobRow.current_item.is_not(None))
        with self.writing() as s:
            return s.execute(
                update(MediaRow)
                .where(MediaRow.status == "analysing", MediaRow.id.not_in(busy))
                .values(status="imported")
            ).rowcount

    # -- processes (server and workers) and their heartbeats ----------------------

    def register_process(self, name: str, role: str, host: str, pid: int) -> None:
        now = self.now()
        values = {
            "name": name,
            "role": role,
            "host": host,
            "pid": pid,
            "started_at": now,
            "heartbeat_at": now,
            "job_id": None,
            "stopped_at": None,
        }
        with self.writing() as s:
            stmt = _insert(s)(ProcessRow).values(**values)
            s.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))

    def heartbeat(self, name: str, job_id: int | None = None) -> None:
        """A process's sign of life (and of the job it runs, whose row gets the same time)."""
        now = self.now()
        with self.writing() as s:
            s.execute(update(ProcessRow).where(ProcessRow.name == name).values(heartbeat_at=now, job_id=job_id))
            if job_id is not None:
                s.execute(update(JobRow).where(JobRow.id == job_id).values(heartbeat_at=now))

    def stop_process(self, name: str) -> None:
        with self.writing() as s:
            s.execute(
                update(ProcessRow).where(ProcessRow.name == name).values(stopped_at=datetime.now(UTC), job_id=None)
            )

    def processes(self, role: str | None = None, since: timedelta | None = None) -> list[Process]:
        """Registered processes, newest first; ``since`` keeps those seen alive that recently."""
        with self.session() as s:
            q = select(ProcessRow).order_by(ProcessRow.heartbeat_at.desc())
            if role:
                q = q.where(ProcessRow.role == role)
            if since is not None:
                q = q.where(ProcessRow.heartbeat_at >= self.now() - since, ProcessRow.stopped_at.is_(None))
            return [_process(r) for r in s.scalars(q)]

    def get_process(self, name: str) -> Process | None:
        with self.session() as s:
            row = s.get(ProcessRow, name)
            return _process(row) if row else None

    # -- users -------------------------------------------------------------------

    def add_user(self, name: str, role: str, password_hash: str) -> User:
        with self.writing() as s:
            if s.get(UserRow, name) is not None:
                raise DatabaseError(f"a user named {name!r} already exists")
            row = UserRow(name=name, role=role, password_hash=password_hash, disabled=False)
            s.add(row)
        return _user(row)

    def update_user(
        self, name: str, *, role: str | None = None, password_hash: str | None = None, disabled: bool | None = None
    ) -> User:
        with self.writing() as s:
            row = s.get(UserRow, name)
            if row is None:
                raise DatabaseError(f"there is no user named {name!r}")
            if role is not None:
                row.role = role
            if password_hash is not None:
                row.password_hash = password_hash
            if disabled is not None:
                row.disabled = disabled
        return _user(row)

    def get_user(self, name: str) -> User | None:
        with self.session() as s:
            row = s.get(UserRow, name)
            return _user(row) if row else None

    def password_hash(self, name: str) -> str | None:
        """The stored hash of an enabled user (None for unknown or disabled users)."""
        with self.session() as s:
            row = s.get(UserRow, name)
            return row.password_hash if row is not None and not row.disabled else None

    def list_users(self) -> list[User]:
        with self.session() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def has_users(self) -> bool:
        with self.session() as s:
            return s.scalar(select(UserRow.name).where(UserRow.disabled.is_(False)).limit(1)) is not None

    def move_paths(self, moves: dict[str, str]) -> int:
        """Point model versions and media that lie under a moved folder at its new place
        (``old folder -> new folder``); returns how many rows changed."""
        changed = 0
        with self.writing() as s:
            for old, new in moves.items():
                if old == new:
                    continue
                for table in (ModelVersionRow, MediaRow):
                    for row in s.scalars(select(table).where(table.path.startswith(old.rstrip("/") + "/"))):
                        row.path = new.rstrip("/") + row.path[len(old.rstrip("/")) :]
                        changed += 1
        return changed

    # -- deleting media -----------------------------------------------------------

    def delete_media(self, media_id: str) -> Media:
        """Remove a media and everything derived from it, refused when a person annotated
        or captioned it (what people entered is never deleted). Returns what was removed.

        Only rows no person made are deleted; the media row itself is protected by the
        annotations' and captions' RESTRICT foreign keys, so a correction saved at the same
        moment makes the whole delete fail instead of disappearing with it."""
        try:
            with self.writing() as s:
                row = s.get(MediaRow, media_id)
                if row is None:
                    raise DatabaseError(f"there is no media {media_id}")
                media = _media(row)
                edited = select(SegmentRow.id).where(SegmentRow.media_id == media_id, SegmentRow.source.like("edit:%"))
                if s.scalar(edited.limit(1)) is not None:
                    raise IntegrityError("a person corrected its transcript", None, Exception())
                s.execute(
                    delete(AnnotationRow).where(AnnotationRow.media_id == media_id, AnnotationRow.source != "human")
                )
                s.execute(delete(CaptionRow).where(CaptionRow.media_id == media_id, CaptionRow.source != "human"))
                for table in (SegmentRow, FeatureCacheRow, MediaFileRow):
                    s.execute(delete(table).where(table.media_id == media_id))
                s.execute(delete(PredictionRow).where(PredictionRow.media_id == media_id))
                s.execute(delete(ChunkArrayRow).where(ChunkArrayRow.media_id == media_id))
                s.delete(row)
                s.flush()
        except IntegrityError:
            raise DatabaseError(
                f"{media.name} has annotations, captions, traces or transcript corrections made by people; it is kept"
            ) from None
        if self.chunk_store is not None:
            self.chunk_store.forget(media_id)
        return media


def _segment_rows(segments: Iterable[Segment]) -> list[SegmentRow]:
    return [
        SegmentRow(
            media_id=g.media_id,
            kind=g.kind,
            start=g.start,
            duration=g.duration,
            text=g.text,
            source=g.source,
            speaker=g.speaker,
            language=g.language,
        )
        for g in segments
    ]
