"""The one place that converts database rows to and from the plain dataclasses in
``emostudio.domain``. Services receive a ``Repository``, never a ``Session``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import AnnotationRow, JobRow, MediaFileRow, MediaRow, SegmentRow
from emostudio.domain import Annotation, Job, Media, MediaInfo, Segment

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


def _segment(row: SegmentRow) -> Segment:
    return Segment(
        id=str(row.id), media_id=row.media_id, kind=row.kind, start=row.start, duration=row.duration,
        text=row.text, source=row.source, speaker=row.speaker,
    )  # fmt: skip


def _annotation(row: AnnotationRow) -> Annotation:
    return Annotation(id=row.id, created_at=row.created_at, **{f: getattr(row, f) for f in _ANNOTATION_FIELDS})


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id, kind=row.kind, status=row.status, config=row.config or {},
        progress_completed=row.progress_completed, progress_total=row.progress_total,
        metrics=row.metrics or {}, log=row.log or "", error=row.error, worker=row.worker,
        model_version_id=row.model_version_id, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at,
    )  # fmt: skip


@dataclass(frozen=True)
class MediaSummary:
    """A media with the counts the library table shows."""

    media: Media
    segments: int
    transcript_segments: int
    labels: int


class Repository:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

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

    def add_media(self, media: Media, segments: Sequence[Segment] = ()) -> None:
        """Insert a media with its first segments in one transaction: all or nothing."""
        with self.session() as s, s.begin():
            s.add(
                MediaRow(
                    id=media.id, content_hash=media.content_hash, path=media.path, name=media.name,
                    size_bytes=media.size_bytes, stored=media.stored, status=media.status,
                    speaker=media.speaker, **{f: getattr(media.info, f) for f in _INFO_FIELDS},
                )  # fmt: skip
            )
            s.flush()
            s.add_all(_segment_rows(segments))

    def remember_file(self, path: str, media_id: str, size_bytes: int, mtime_ns: int) -> None:
        with self.session() as s, s.begin():
            s.merge(MediaFileRow(path=path, media_id=media_id, size_bytes=size_bytes, mtime_ns=mtime_ns))

    def set_media_speaker(self, media_id: str, speaker: str) -> None:
        with self.session() as s, s.begin():
            s.execute(update(MediaRow).where(MediaRow.id == media_id, MediaRow.speaker.is_(None)).values(speaker=speaker))

    def list_media(self) -> list[MediaSummary]:
        with self.session() as s:
            seg = dict(s.execute(select(SegmentRow.media_id, func.count()).where(SegmentRow.kind == "speech").group_by(SegmentRow.media_id)).all())
            txt = dict(s.execute(select(SegmentRow.media_id, func.count()).where(SegmentRow.kind == "transcript").group_by(SegmentRow.media_id)).all())
            lab = dict(s.execute(select(AnnotationRow.media_id, func.count()).group_by(AnnotationRow.media_id)).all())
            rows = s.scalars(select(MediaRow).order_by(MediaRow.created_at, MediaRow.name)).all()
            return [MediaSummary(_media(r), seg.get(r.id, 0), txt.get(r.id, 0), lab.get(r.id, 0)) for r in rows]

    # -- segments ------------------------------------------------------------

    def add_segments(self, segments: Iterable[Segment]) -> int:
        rows = _segment_rows(segments)
        with self.session() as s, s.begin():
            s.add_all(rows)
        return len(rows)

    def segments(self, media_id: str, kind: str | None = None) -> list[Segment]:
        with self.session() as s:
            q = select(SegmentRow).where(SegmentRow.media_id == media_id)
            if kind:
                q = q.where(SegmentRow.kind == kind)
            return [_segment(r) for r in s.scalars(q.order_by(SegmentRow.start))]

    def has_segments(self, media_id: str, kind: str, source: str | None = None) -> bool:
        with self.session() as s:
            q = select(SegmentRow.id).where(SegmentRow.media_id == media_id, SegmentRow.kind == kind)
            if source is not None:
                q = q.where(SegmentRow.source == source)
            return s.scalar(q.limit(1)) is not None

    # -- annotations (append-only) --------------------------------------------

    def add_annotation(self, annotation: Annotation) -> Annotation:
        row = AnnotationRow(**{f: getattr(annotation, f) for f in _ANNOTATION_FIELDS})
        with self.session() as s, s.begin():
            s.add(row)
        return _annotation(row)

    def find_annotation(self, annotation: Annotation) -> Annotation | None:
        """An existing annotation with the same content (everything but id, time and origin)."""
        keys = [f for f in _ANNOTATION_FIELDS if f != "origin"]
        with self.session() as s:
            q = select(AnnotationRow)
            for f in keys:
                value = getattr(annotation, f)
                col = getattr(AnnotationRow, f)
                q = q.where(col.is_(None) if value is None else col == value)
            row = s.scalar(q.limit(1))
            return _annotation(row) if row else None

    def annotations(self, media_id: str | None = None, source: str | None = None) -> list[Annotation]:
        with self.session() as s:
            q = select(AnnotationRow)
            if media_id:
                q = q.where(AnnotationRow.media_id == media_id)
            if source:
                q = q.where(AnnotationRow.source == source)
            return [_annotation(r) for r in s.scalars(q.order_by(AnnotationRow.id))]

    # -- jobs ------------------------------------------------------------------

    def enqueue_job(self, kind: str, config: dict | None = None) -> Job:
        row = JobRow(kind=kind, config=config or {}, status="queued")
        with self.session() as s, s.begin():
            s.add(row)
        return _job(row)

    def claim_next_job(self, worker: str, kinds: Iterable[str] | None = None) -> Job | None:
        """Atomically move the oldest queued job to running for ``worker``.

        The conditional UPDATE makes two workers racing for one job safe: only the
        one whose UPDATE still sees status='queued' gets it.
        """
        with self.session() as s, s.begin():
            q = select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.id)
            if kinds is not None:
                q = q.where(JobRow.kind.in_(list(kinds)))
            for job_id in s.scalars(q.limit(5)).all():
                now = datetime.now(UTC)
                claimed = s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == "queued")
                    .values(status="running", worker=worker, started_at=now, heartbeat_at=now)
                ).rowcount
                if claimed:
                    return _job(s.get(JobRow, job_id))
        return None

    def report_job(
        self,
        job_id: int,
        *,
        completed: float | None = None,
        total: float | None = None,
        metrics: dict | None = None,
        log_line: str | None = None,
    ) -> None:
        with self.session() as s, s.begin():
            row = s.get(JobRow, job_id)
            if completed is not None:
                row.progress_completed = completed
            if total is not None:
                row.progress_total = total
            if metrics:
                row.metrics = {**(row.metrics or {}), **metrics}
            if log_line:
                row.log = (row.log or "") + log_line.rstrip("\n") + "\n"
            row.heartbeat_at = datetime.now(UTC)

    def finish_job(self, job_id: int, status: str, error: str | None = None, model_version_id: str | None = None) -> None:
        with self.session() as s, s.begin():
            row = s.get(JobRow, job_id)
            row.status = status
            row.error = error
            row.model_version_id = model_version_id
            row.finished_at = datetime.now(UTC)

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


def _segment_rows(segments: Iterable[Segment]) -> list[SegmentRow]:
    return [
        SegmentRow(media_id=g.media_id, kind=g.kind, start=g.start, duration=g.duration,
                   text=g.text, source=g.source, speaker=g.speaker)
        for g in segments
    ]  # fmt: skip
