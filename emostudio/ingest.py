"""Importing media (and their labels and transcripts) into the studio.

One file's failure is one line in ``ImportReport.errors``; the batch goes on, and a
media is written with its segments in one transaction, so the database never holds
half an import. Re-importing is a no-op: media are identified by content hash,
imported labels and transcripts are not added twice.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from db.repository import Repository
from emostudio.domain import Annotation, Media, Segment
from emostudio.labelfiles import LabelFileError, LabelRow, read_label_file
from emostudio.media import MEDIA_EXTENSIONS, MediaError, content_hash, load_audio, probe
from emostudio.transcripts import TranscriptError, find_sidecar, load_transcript
from emostudio.vad import VAD_SOURCE, detect_speech

ProgressHook = Callable[..., None]
VAD_BLOCK_SECONDS = 600.0  # 10 min of 16 kHz float32 = 38 MB decoded at a time


@dataclass
class ImportReport:
    added: list[Media] = field(default_factory=list)
    known: list[Media] = field(default_factory=list)
    aliases: list[tuple[str, Media]] = field(default_factory=list)
    """Files whose bytes equal an already imported media seen under another path."""
    labels_added: int = 0
    segments_added: int = 0
    transcripts_added: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} media added",
            f"{len(self.known)} already known",
            f"{self.labels_added} labels",
            f"{self.segments_added} speech segments",
            f"{self.transcripts_added} transcript spans",
        ]
        if self.aliases:
            parts.append(f"{len(self.aliases)} byte-identical duplicates")
        parts.append(f"{len(self.errors)} errors")
        return ", ".join(parts)


@dataclass(frozen=True)
class ImportOptions:
    copy: bool = False
    """Copy files into ``media_dir`` (uploads) instead of referencing them in place."""
    media_dir: Path | None = None
    transcript_encoding: str = "utf-8"
    vad: bool = True


def collect_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Media files named or found (recursively) under ``paths``, and errors for the rest."""
    found: dict[Path, None] = {}
    errors = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in MEDIA_EXTENSIONS:
                    found[f.resolve()] = None
        elif p.is_file():
            if p.suffix.lower() in MEDIA_EXTENSIONS:
                found[p.resolve()] = None
            else:
                errors.append(f"{p}: unsupported file type {p.suffix or '(no extension)'!r}")
        else:
            errors.append(f"{p}: file not found")
    return list(found), errors


def import_paths(
    repo: Repository,
    paths: Iterable[str | Path],
    labels: str | Path | None = None,
    options: ImportOptions = ImportOptions(),
    hook: ProgressHook | None = None,
) -> ImportReport:
    """Import media files and folders, optionally with a label file (CSV or .scp)."""
    report = ImportReport()
    files, report.errors = collect_files(paths)
    label_rows: dict[Path, list[LabelRow]] = {}
    annotator = "import"
    if labels is not None:
        annotator = f"import:{Path(labels).name}"
        try:
            rows, errors = read_label_file(labels)
        except LabelFileError as err:
            rows, errors = [], [str(err)]
        report.errors.extend(errors)
        known_files = set(files)
        for row in rows:
            label_rows.setdefault(row.path, []).append(row)
            if row.path not in known_files:  # a label file also names the media to import
                files.append(row.path)
                known_files.add(row.path)

    for i, path in enumerate(files):
        if hook:
            hook("import", completed=i, total=len(files))
        try:
            media = _import_file(repo, path, options, report)
        except MediaError as err:
            report.errors.append(str(err))
            continue
        try:
            _import_transcript(repo, media, path, options, report)
        except TranscriptError as err:
            report.errors.append(f"{err} (media imported without it)")
        for row in label_rows.get(path, ()):
            _import_label(repo, media, row, annotator, report)
    if hook:
        hook("import", completed=len(files), total=len(files))
    return report


def _import_file(repo: Repository, path: Path, options: ImportOptions, report: ImportReport) -> Media:
    stat = path.stat()
    known = repo.media_for_file(str(path), stat.st_size, stat.st_mtime_ns)
    if known is not None:
        report.known.append(known)
        return known
    if stat.st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    digest = content_hash(path)
    known = repo.media_by_hash(digest)
    if known is None:
        info = probe(path)
        media = Media(
            id=digest[:16], path=str(path), name=path.name, content_hash=digest,
            size_bytes=stat.st_size, info=info,
        )  # fmt: skip
        segments = _speech_segments(media) if options.vad else []
        if options.copy:
            media = _copy_into_store(media, path, options.media_dir)
        try:
            repo.add_media(media, segments)
        except IntegrityError:  # another importer added the same bytes meanwhile
            known = repo.media_by_hash(digest)
        else:
            report.added.append(media)
            report.segments_added += len(segments)
    if known is not None:
        if Path(known.path) != path:
            report.aliases.append((str(path), known))
        report.known.append(known)
        media = known
    repo.remember_file(str(path), media.id, stat.st_size, stat.st_mtime_ns)
    return media


def _speech_segments(media: Media) -> list[Segment]:
    """VAD over the whole track, decoded in blocks so memory stays flat on hour-long files.

    Decoding every block also surfaces damaged audio as a MediaError before anything is stored.
    """
    if not media.info.has_audio:
        return []
    spans: list[tuple[float, float]] = []
    block_start = 0.0
    while block_start < media.duration:
        audio = load_audio(media.path, start=block_start, duration=VAD_BLOCK_SECONDS)
        for start, duration in detect_speech(audio):
            start += block_start
            # speech running across a block boundary comes back as two touching spans: join them
            if spans and start - sum(spans[-1]) < 0.05 and abs(start - block_start) < 0.05:
                spans[-1] = (spans[-1][0], start + duration - spans[-1][0])
            else:
                spans.append((start, duration))
        block_start += VAD_BLOCK_SECONDS
    return [
        Segment(id=None, media_id=media.id, kind="speech", start=start, duration=duration, source=VAD_SOURCE)
        for start, duration in spans
    ]


def _copy_into_store(media: Media, path: Path, media_dir: Path | None) -> Media:
    if media_dir is None:
        raise ValueError("copy=True needs a media_dir")
    dest = media_dir / media.content_hash[:2] / f"{media.content_hash}{path.suffix.lower()}"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(dest)  # atomic: a crash never leaves a half-copied media in the store
    return replace(media, path=str(dest), stored=True)


def _import_transcript(repo: Repository, media: Media, path: Path, options: ImportOptions, report: ImportReport) -> None:
    sidecar = find_sidecar(path)
    if sidecar is None or repo.has_segments(media.id, "transcript", source=sidecar.name):
        return
    spans = load_transcript(sidecar, media.duration, options.transcript_encoding)
    report.transcripts_added += repo.add_segments(
        Segment(id=None, media_id=media.id, kind="transcript", start=s, duration=d, text=t, source=sidecar.name)
        for s, d, t in spans
    )


def _import_label(repo: Repository, media: Media, row: LabelRow, annotator: str, report: ImportReport) -> None:
    if row.speaker:
        repo.set_media_speaker(media.id, row.speaker)
    annotation = Annotation(
        id=None, media_id=media.id, source="import", annotator=annotator, label=row.label,
        raw_label=row.raw_label, arousal=row.arousal, valence=row.valence, dominance=row.dominance,
        origin=row.origin,
    )  # fmt: skip
    if repo.find_annotation(annotation) is None:
        repo.add_annotation(annotation)
        report.labels_added += 1
