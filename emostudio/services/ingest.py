"""Importing media (and their labels and transcripts) into the studio.

One file's failure is one line in ``ImportReport.errors``; the batch goes on, and a
media is written with its segments in one transaction, so the database never holds
half an import. Re-importing is a no-op: media are identified by content hash,
imported labels and transcripts are not added twice, even by two imports at once.
A full disk stops the batch cleanly (``ImportReport.stopped``) with no partial file.

Every path a person gave (files, folders, label files and the paths inside them,
sidecar transcripts) goes through a ``PathPolicy`` first: the studio's own database is
never opened as a plain file, and import roots are enforced when set.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from emostudio.core.domain import PROXY_JOB, Annotation, Media, Segment, media_id
from emostudio.core.errors import PathRefused, StudioError
from emostudio.core.files import atomic_copy, printable
from emostudio.core.paths import PathPolicy, database_files, sqlite_file
from emostudio.db.repository import Repository
from emostudio.db.session import StorageError
from emostudio.media.decode import MEDIA_EXTENSIONS, MediaError, content_hash, probe, usable_streams
from emostudio.media.labelfiles import LabelFileError, LabelRow, read_label_file
from emostudio.media.proxy import needs_proxy
from emostudio.media.recipes import RECIPES
from emostudio.media.transcripts import TranscriptError, find_sidecar, load_transcript
from emostudio.media.vad import speech_segments

log = logging.getLogger("emostudio.services.ingest")

ProgressHook = Callable[..., None]


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
    warnings: list[str] = field(default_factory=list)
    stopped: str | None = None
    """Why the batch stopped early (a full disk), else None."""

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
        return ", ".join(parts) + (f"; stopped: {self.stopped}" if self.stopped else "")


@dataclass(frozen=True)
class ImportOptions:
    copy: bool = False
    """Copy files into ``media_dir`` (uploads) instead of referencing them in place."""
    media_dir: Path | None = None
    transcript_encoding: str = "utf-8"
    vad: bool = True
    policy: PathPolicy = PathPolicy()
    """Which paths may be read; the repository's own database file is refused in any case."""


def _policy(repo: Repository, options: ImportOptions) -> PathPolicy:
    own = database_files(sqlite_file(str(repo.engine.url)))
    p = options.policy
    return replace(p, protected_files=tuple(dict.fromkeys(p.protected_files + own)))


def collect_files(paths: Iterable[str | Path], policy: PathPolicy = PathPolicy()) -> tuple[list[Path], list[str]]:
    """Media files named or found (recursively) under ``paths``, and errors for the rest."""
    found: dict[Path, None] = {}
    errors = []
    for raw in paths:
        p = Path(os.path.expanduser(raw))  # Path.expanduser raises on an unknown ~user
        try:
            policy.check(p)
            if p.is_dir():
                for f in sorted(p.rglob("*")):
                    if f.suffix.lower() in MEDIA_EXTENSIONS and f.is_file():
                        try:
                            found[policy.check(f)] = None  # a symlink may point out of the folder
                        except PathRefused as err:
                            errors.append(str(err))
            elif p.is_file():
                if p.suffix.lower() in MEDIA_EXTENSIONS:
                    found[policy.check(p)] = None
                else:
                    errors.append(f"{policy.show(p)}: unsupported file type {p.suffix or '(no extension)'!r}")
            else:
                errors.append(f"{policy.show(p)}: file not found")
        except PathRefused as err:
            errors.append(str(err))
        except OSError as err:
            errors.append(f"{policy.show(p)}: cannot be read ({err.strerror or err})")
    return list(found), [printable(e) for e in errors]


def _disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def import_paths(
    repo: Repository,
    paths: Iterable[str | Path],
    labels: str | Path | None = None,
    options: ImportOptions = ImportOptions(),
    hook: ProgressHook | None = None,
) -> ImportReport:
    """Import media files and folders, optionally with a label file (CSV or .scp)."""
    report = ImportReport()
    policy = _policy(repo, options)
    files, report.errors = collect_files(paths, policy)
    rows: list[LabelRow] = []
    annotator = "import"
    if labels is not None:
        annotator = f"import:{printable(Path(labels).name)}"
        try:
            rows, errors = read_label_file(labels, policy)
        except (LabelFileError, PathRefused) as err:
            rows, errors = [], [str(err)]
        report.errors.extend(errors)
    return _import_files(repo, files, rows, annotator, replace(options, policy=policy), report, hook)


def import_corpus(
    repo: Repository,
    name: str,
    folder: str | Path,
    options: ImportOptions = ImportOptions(),
    hook: ProgressHook | None = None,
) -> ImportReport:
    """Import a shared corpus through its recipe (``emostudio.media.recipes``): every media
    file it lists, with the corpus's label as an imported annotation (annotator
    ``import:<name>``) and its speaker."""
    report = ImportReport()
    policy = _policy(repo, options)
    shown = printable(policy.show(Path(folder)))
    if name not in RECIPES:
        report.errors.append(f"{shown}: no recipe named {name!r} (known: {', '.join(sorted(RECIPES))})")
        return report
    try:
        policy.check(Path(folder))
        items = RECIPES[name](Path(folder))
    except PathRefused as err:
        report.errors.append(printable(str(err)))
        return report
    except (OSError, KeyError, ValueError) as err:
        report.errors.append(f"{shown}: not a {name} folder ({type(err).__name__}: {printable(str(err))})")
        return report
    media_items = [it for it in items if it.path is not None and it.path.suffix.lower() in MEDIA_EXTENSIONS]
    if not media_items:
        report.errors.append(f"{shown}: the {name} recipe lists no audio or video files (nothing to import)")
        return report
    rows = []
    for k, item in enumerate(media_items):
        try:
            path = policy.check(item.path)
        except PathRefused as err:
            report.errors.append(printable(str(err)))
            continue
        rows.append(LabelRow(path, item.label, item.raw_label, f"{name}:{k}", speaker=item.speaker))
    files = list(dict.fromkeys(r.path for r in rows))
    return _import_files(repo, files, rows, f"import:{name}", replace(options, policy=policy), report, hook)


def _import_files(
    repo: Repository,
    files: list[Path],
    rows: list[LabelRow],
    annotator: str,
    options: ImportOptions,
    report: ImportReport,
    hook: ProgressHook | None,
) -> ImportReport:
    policy = options.policy
    files = list(files)
    label_rows: dict[Path, list[LabelRow]] = {}
    known_files = set(files)
    for row in rows:
        label_rows.setdefault(row.path, []).append(row)
        if row.path not in known_files:  # a label file also names the media to import
            files.append(row.path)
            known_files.add(row.path)

    for i, path in enumerate(files):
        if hook:
            hook("import", completed=i, total=len(files))
        shown = printable(policy.show(path))
        try:
            media = _import_file(repo, path, options, report)
            try:
                _import_transcript(repo, media, path, options, report)
            except TranscriptError as err:
                report.errors.append(f"{printable(policy.show(err.path))}: {err.problem} (media imported without it)")
            except PathRefused as err:
                report.errors.append(f"{printable(str(err))} (media imported without it)")
            for row in label_rows.get(path, ()):
                _import_label(repo, media, row, annotator, report)
        except StorageError as err:
            report.stopped = f"{err} ({len(files) - i} files not imported)"
            break
        except OSError as err:
            if _disk_full(err):
                report.stopped = (
                    f"the disk is full: nothing of {shown} was kept; free some space and import again "
                    f"({len(files) - i} files not imported)"
                )
                break
            report.errors.append(f"{shown}: cannot be read ({err.strerror or type(err).__name__})")
        except MediaError as err:
            report.errors.append(f"{shown}: {printable(err.problem)}")
        except StudioError as err:
            report.errors.append(f"{shown}: {printable(str(err))}")
        except Exception as err:  # noqa: BLE001 - one file must never stop the batch
            log.exception("importing %s failed", shown)
            report.errors.append(f"{shown}: could not be imported ({type(err).__name__}; details in the server log)")
    if hook:
        hook("import", completed=len(files), total=len(files))
    unplayable = [m.id for m in report.added + report.known if needs_proxy(m)]
    if unplayable:  # the worker makes browser-playable copies, in the background
        repo.enqueue_job(PROXY_JOB, {"media_ids": unplayable})
    return report


def _import_file(repo: Repository, path: Path, options: ImportOptions, report: ImportReport) -> Media:
    stat = path.stat()
    name_ok = _utf8(str(path))  # the database stores text: a path that is not UTF-8 cannot be recorded
    if not name_ok and not options.copy:
        raise MediaError(
            path,
            "the file name is not valid UTF-8, so the studio cannot record where it is: "
            "rename the file, or import it with --copy",
        )
    known = repo.media_for_file(str(path), stat.st_size, stat.st_mtime_ns) if name_ok else None
    if known is not None:
        report.known.append(known)
        return known
    if stat.st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    digest = content_hash(path)
    known = repo.media_by_hash(digest)
    if known is None:
        info, note = usable_streams(path, probe(path))
        media = Media(
            id=media_id(digest),
            path=str(path),
            name=printable(path.name),
            content_hash=digest,
            size_bytes=stat.st_size,
            info=info,
        )
        if note:
            report.warnings.append(f"{printable(options.policy.show(path))}: {note}")
        segments = speech_segments(media) if options.vad else []
        if options.copy:
            media = _copy_into_store(media, path, options.media_dir)
        if repo.add_media(media, segments):
            report.added.append(media)
            report.segments_added += len(segments)
        else:  # another importer added the same bytes meanwhile
            known = repo.media_by_hash(digest)
    if known is not None:
        if Path(known.path) != path:
            report.aliases.append((printable(str(path)), known))
        report.known.append(known)
        media = known
    if name_ok:
        repo.remember_file(str(path), media.id, stat.st_size, stat.st_mtime_ns)
    return media


def _utf8(text: str) -> bool:
    """False for names with bytes that are not UTF-8 (Python keeps them as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _copy_into_store(media: Media, path: Path, media_dir: Path | None) -> Media:
    if media_dir is None:
        raise ValueError("copy=True needs a media_dir")
    suffix = printable(path.suffix.lower())
    dest = media_dir / media.content_hash[:2] / f"{media.content_hash}{suffix if _utf8(path.suffix) else ''}"
    if not dest.exists():
        atomic_copy(path, dest)  # a crash or a full disk never leaves a half-copied media in the store
    return replace(media, path=str(dest), stored=True)


def _import_transcript(
    repo: Repository, media: Media, path: Path, options: ImportOptions, report: ImportReport
) -> None:
    sidecar = find_sidecar(path)
    if sidecar is None or repo.has_segments(media.id, "transcript", source=printable(sidecar.name)):
        return
    options.policy.check(sidecar)  # a sidecar may be a symlink to what must not be read
    spans = load_transcript(sidecar, media.duration, options.transcript_encoding)
    report.transcripts_added += repo.add_segments(
        Segment(
            id=None, media_id=media.id, kind="transcript", start=s, duration=d, text=t, source=printable(sidecar.name)
        )
        for s, d, t in spans
    )


def _import_label(repo: Repository, media: Media, row: LabelRow, annotator: str, report: ImportReport) -> None:
    if row.speaker:
        repo.set_media_speaker(media.id, row.speaker)
    annotation = Annotation(
        id=None,
        media_id=media.id,
        source="import",
        annotator=annotator,
        label=row.label,
        raw_label=row.raw_label,
        arousal=row.arousal,
        valence=row.valence,
        dominance=row.dominance,
        origin=row.origin,
    )
    if repo.import_annotation(annotation):
        report.labels_added += 1
