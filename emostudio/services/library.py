"""The library: the media table (shared by `emostudio ls` and the UI's Library page),
imports from the browser or a server folder, and queuing their analysis."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from emostudio.core.domain import ANALYZE_JOB, Media
from emostudio.core.errors import redact
from emostudio.core.files import printable
from emostudio.core.paths import PathPolicy, is_inside, real
from emostudio.db.repository import Repository
from emostudio.media.proxy import proxy_path
from emostudio.services.ingest import ImportOptions, ImportReport, import_paths

LIBRARY_COLUMNS = (
    "id",
    "name",
    "duration",
    "modality",
    "status",
    "speech segments",
    "transcript",
    "labels",
    "pseudo-labels",
)
UI_COLUMNS = ("name", "duration", "modality", "status", "top emotion", "annotated", "model version", "id")


def library_rows(repo: Repository) -> list[tuple]:
    return [
        (
            s.media.id,
            s.media.name,
            round(s.media.duration, 2),
            s.media.info.modality,
            s.media.status,
            s.segments,
            "yes" if s.transcript_segments else "",
            s.labels,
            s.pseudo_labels,
        )
        for s in repo.list_media()
    ]


@dataclass(frozen=True)
class LibraryFilter:
    text: str = ""
    """Part of the name or id (any case)."""
    status: str = ""
    top_emotion: str = ""
    annotated: str = ""
    """"yes", "no" or "" for either."""


PAGE_SIZE = 50
LIBRARY_SORTS = ("added", "name", "duration", "status", "top emotion")


@dataclass(frozen=True)
class LibraryPage:
    rows: list[tuple]
    total: int
    """How many media match the filter."""
    page: int
    pages: int

    def summary(self) -> str:
        if not self.total:
            return "No media match."
        return f"{self.total} media · page {self.page + 1} of {self.pages}"


def studio_page(
    repo: Repository,
    flt: LibraryFilter = LibraryFilter(),
    page: int = 0,
    sort: str = "added",
    descending: bool = False,
    size: int = PAGE_SIZE,
) -> LibraryPage:
    """One page of the Library page's table, filtered and sorted by the database: one row
    per media with its top predicted emotion (by the active model version) and whether a
    person annotated it. A page past the end shows the last one."""
    active = repo.active_model_version()
    version = active.id if active else None

    def fetch(page: int):
        return repo.media_page(
            version,
            text=flt.text.strip(),
            status=flt.status,
            top_label=flt.top_emotion,
            annotated={"yes": True, "no": False}.get(flt.annotated),
            sort=sort,
            descending=descending,
            offset=page * size,
            limit=size,
        )

    page = max(0, int(page))
    entries, total = fetch(page)
    pages = max(1, -(-total // size))
    if page >= pages:
        page = pages - 1
        entries, total = fetch(page)
    rows = []
    for e in entries:
        m = e.media
        done = "yes" if e.human_labels else "no"
        # self-training's guesses show as what they are, never as a person's annotation
        shown = f"{done} ({e.pseudo_labels} pseudo)" if e.pseudo_labels else done
        rows.append(
            (
                m.name,
                round(m.duration, 2),
                m.info.modality,
                m.status,
                e.top_label or "",
                shown,
                version if e.top_label else "",
                m.id,
            )
        )
    return LibraryPage(rows, total, page, pages)


def studio_rows(repo: Repository, flt: LibraryFilter = LibraryFilter()) -> list[tuple]:
    """The first page of the Library page's table (see ``studio_page``)."""
    return studio_page(repo, flt).rows


LABEL_FILE_SUFFIXES = (".csv", ".scp")


def import_uploads(
    repo: Repository,
    files: list[str],
    media_dir: Path,
    vad: bool = True,
    hook=None,
    policy: PathPolicy = PathPolicy(),
    requested_by: str | None = None,
) -> ImportReport:
    """Import files uploaded through the browser, copying them into the store.

    Uploads arrive each in its own temporary folder; they are gathered under their
    original names first, so a transcript uploaded beside its media is found as its
    sidecar, and a label file (CSV or .scp) dropped with the media labels them. The
    import may read nothing but that folder: a label file naming ``/abs/path`` or
    ``../..`` gets an error line, never a copy of a server file. The uploaded temporary
    files are deleted afterwards (they are recordings of people).
    """
    try:
        return _import_uploads(repo, files, media_dir, vad, hook, policy)
    finally:
        for f in files:  # Gradio's copies of the uploads, whatever happened
            Path(f).unlink(missing_ok=True)


def _import_uploads(repo: Repository, files, media_dir, vad, hook, policy) -> ImportReport:
    with tempfile.TemporaryDirectory(prefix="emostudio-upload-") as staging:
        report = ImportReport()
        label_files = []
        for f in files:
            name = printable(Path(f).name)
            target = Path(staging) / name
            if target.exists():  # two uploads with one name: keep both
                target = target.with_name(f"{target.stem}-{len(list(Path(staging).iterdir()))}{target.suffix}")
            try:
                _link_or_copy(Path(f), target)
            except OSError as err:
                if err.errno == errno.ENOSPC:
                    report.stopped = "the disk is full: nothing was imported; free some space and upload again"
                    return report
                report.errors.append(f"{name}: the upload cannot be read ({err.strerror or type(err).__name__})")
                continue
            if target.suffix.lower() in LABEL_FILE_SUFFIXES:
                label_files.append(target)
        root = real(staging)
        options = ImportOptions(copy=True, media_dir=media_dir, vad=vad, policy=replace(policy, roots=(root,)))
        report = _merge(
            report,
            import_paths(repo, [staging], labels=label_files[0] if label_files else None, options=options, hook=hook),
        )
        for extra in label_files[1:]:
            report = _merge(report, import_paths(repo, [], labels=extra, options=options, hook=hook))
    hidden = {staging: "", str(root): ""}
    report.errors = [redact(e, hidden).lstrip("/") for e in report.errors]
    report.warnings = [redact(w, hidden).lstrip("/") for w in report.warnings]
    return report


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # same disk: no second copy of a large video
    except OSError:
        shutil.copyfile(source, target)


def _merge(report: ImportReport, more: ImportReport) -> ImportReport:
    report.added += [m for m in more.added if m not in report.added]
    report.known += [m for m in more.known if m not in report.known]
    report.aliases += more.aliases
    report.labels_added += more.labels_added
    report.segments_added += more.segments_added
    report.transcripts_added += more.transcripts_added
    report.errors += more.errors
    report.warnings += more.warnings
    report.stopped = report.stopped or more.stopped
    return report


def import_server_paths(
    repo: Repository,
    folder: str | None,
    labels: str | None,
    copy: bool,
    media_dir: Path,
    policy: PathPolicy,
    vad: bool = True,
    hook=None,
) -> ImportReport:
    """Import a folder (and/or a label file) that already sits on the server, inside the
    folders ``policy`` allows."""
    paths = [folder.strip()] if folder and folder.strip() else []
    label_path = labels.strip() if labels and labels.strip() else None
    if not paths and not label_path:
        report = ImportReport()
        report.errors.append("give a folder or a label file path on the server")
        return report
    options = ImportOptions(copy=copy, media_dir=media_dir, vad=vad, policy=policy)
    return import_paths(repo, paths, labels=label_path, options=options, hook=hook)


def delete_media(repo: Repository, settings, media_id: str) -> Media:
    """Delete a media nobody annotated, with its predictions, cached features, thumbnails
    and, when it was copied into the store, the copy (a file imported in place stays)."""
    from emostudio.features.thumbnails import thumbnail_dir

    cached = [Path(path) for _, _, path in repo.cached_features(media_id)]
    media = repo.delete_media(media_id)
    store = real(settings.media_dir)
    for path in cached:
        path.unlink(missing_ok=True)
    shutil.rmtree(thumbnail_dir(settings.cache_dir / "thumbnails", media), ignore_errors=True)
    proxy_path(settings.cache_dir, media).unlink(missing_ok=True)
    if media.stored and is_inside(real(media.path), store):
        Path(media.path).unlink(missing_ok=True)
    return media


def queue_analysis(
    repo: Repository, media_ids: list[str] | None = None, force: bool = False, requested_by: str | None = None
):
    """Ask the background worker to analyse media (all of them when ``media_ids`` is None).

    Media that already have predictions by the active model version are skipped by the
    job unless ``force``; returns the job, or None when there was nothing to queue.
    """
    if media_ids is not None and not media_ids:
        return None
    return repo.enqueue_job(ANALYZE_JOB, {"media_ids": media_ids, "force": force}, requested_by=requested_by)


def analysis_progress(repo: Repository) -> str:
    """One line per queued or running analysis job, for the Library page."""
    lines = []
    for job in reversed(repo.list_jobs(limit=20)):
        if job.kind != ANALYZE_JOB or job.status not in ("queued", "running"):
            continue
        if job.status == "queued":
            lines.append(f"Analysis job {job.id}: queued")
        else:
            done, total = job.progress_completed, job.progress_total or 0
            last = job.log.strip().splitlines()[-1] if job.log.strip() else ""
            line = f"Analysis job {job.id}: {int(done)} of {total:g} media"
            if done > int(done):  # inside a long media
                line += f", {done - int(done):.0%} of the next analysed"
            lines.append(line + (f" ({last})" if last else ""))
    return "\n\n".join(lines)


def format_table(columns: tuple[str, ...], rows: list[tuple]) -> str:
    cells = [tuple(str(c) for c in columns)] + [tuple("" if v is None else str(v) for v in r) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
