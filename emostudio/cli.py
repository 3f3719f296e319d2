"""The ``emostudio`` command line: import, ls, serve, worker."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from emostudio.config import get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Multimodal emotion analysis and annotation studio.")


def _tqdm_hook(desc: str):
    bar = tqdm(desc=desc, unit="file", dynamic_ncols=True)

    def hook(step: str, *, completed=None, total=None, **_) -> None:
        if total is not None and bar.total != total:
            bar.total = total
            bar.refresh()
        if completed is not None:
            bar.update(completed - bar.n)

    return bar, hook


@app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="Media files and folders (searched recursively).")] = None,
    labels: Annotated[Path | None, typer.Option(help="Label file: CSV (path,emotion[,arousal,valence,dominance,speaker]) or Kaldi .scp.")] = None,
    copy: Annotated[bool | None, typer.Option("--copy/--in-place", help="Copy files into the store instead of referencing them in place.")] = None,
    transcript_encoding: Annotated[str, typer.Option(help="Text encoding of sidecar transcripts.")] = "utf-8",
    vad: Annotated[bool, typer.Option(help="Run voice activity detection on new media.")] = True,
) -> None:
    """Import media, their sidecar transcripts (.srt/.vtt/.txt) and labels."""
    from emostudio.ingest import ImportOptions, import_paths
    from emostudio.store import open_repository

    settings = get_settings()
    if not paths and labels is None:
        raise typer.BadParameter("give media paths, --labels, or both")
    repo = open_repository(settings)
    options = ImportOptions(
        copy=settings.copy_imports if copy is None else copy,
        media_dir=settings.media_dir,
        transcript_encoding=transcript_encoding,
        vad=vad,
    )
    bar, hook = _tqdm_hook("import")
    with bar:
        report = import_paths(repo, paths or [], labels=labels, options=options, hook=hook)
    for alias, media in report.aliases:
        typer.echo(f"note: {alias}: same bytes as {media.path} (media {media.id}); recorded as an alias", err=True)
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    typer.echo(report.summary())
    raise typer.Exit(1 if report.errors else 0)


@app.command("analyze")
def analyze_command(
    paths: Annotated[list[Path], typer.Argument(help="Media files and folders (searched recursively).")],
    out: Annotated[Path, typer.Option(help="CSV with one row per clip.")] = Path("predictions.csv"),
    chunks: Annotated[Path | None, typer.Option(help="CSV with one row per chunk (0.25 s).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model folder (default: the active version, else the shipped default).")] = None,
    modalities: Annotated[str, typer.Option(help="Comma-separated subset of audio,face,text.")] = "audio,face,text",
    asr: Annotated[bool, typer.Option(help="Transcribe media that have no transcript (Whisper tiny.en).")] = True,
    vad: Annotated[bool, typer.Option(help="Run voice activity detection on new media.")] = True,
) -> None:
    """Import and analyse media headless; write clip (and chunk) predictions as CSV.

    Under `accelerate launch --num_processes N` the files are split between the
    processes (one per GPU, or CPU processes) and the CSVs are merged at the end.
    """
    from accelerate import PartialState

    from emostudio.batch import analyze_paths

    state = PartialState(cpu=get_settings().device == "cpu")
    wanted = tuple(m.strip() for m in modalities.split(",") if m.strip())
    unknown = set(wanted) - {"audio", "face", "text"}
    if unknown:
        raise typer.BadParameter(f"unknown modality: {', '.join(sorted(unknown))}")
    errors = analyze_paths(paths, out=out, chunks=chunks, model=model, modalities=wanted, asr=asr, vad=vad, state=state)
    for error in errors:
        typer.echo(f"error: {error}", err=True)
    raise typer.Exit(1 if errors else 0)


@app.command("export")
def export_command(
    clips: Annotated[Path | None, typer.Option(help="CSV of clip-level predictions.")] = None,
    segments: Annotated[Path | None, typer.Option(help="CSV of predictions per speech segment.")] = None,
    chunks: Annotated[Path | None, typer.Option(help="CSV of chunk-level predictions.")] = None,
    annotations: Annotated[Path | None, typer.Option(help="CSV of annotations (labels and corrections).")] = None,
    media: Annotated[list[str] | None, typer.Option(help="Only these media ids (repeatable).")] = None,
    model_version: Annotated[str | None, typer.Option(help="Predictions of this model version (default: the active one).")] = None,
    annotator: Annotated[str | None, typer.Option(help="Only this annotator's annotations.")] = None,
    source: Annotated[str | None, typer.Option(help="Only annotations from this source: human, import or pseudo.")] = None,
) -> None:
    """Export stored predictions and annotations as CSV (what the app's Export page downloads)."""
    from emostudio.export import ANNOTATION_COLUMNS, PREDICTION_COLUMNS, export_rows, write_csv
    from emostudio.store import open_repository

    asked = (("clips", clips), ("segments", segments), ("chunks", chunks), ("annotations", annotations))
    targets = [(k, p) for k, p in asked if p]
    if not targets:
        raise typer.BadParameter("give at least one of --clips, --segments, --chunks, --annotations")
    repo = open_repository()
    for kind, path in targets:
        rows = export_rows(repo, kind, media_ids=media, model_version=model_version, annotator=annotator, source=source)
        n = write_csv(path, rows, ANNOTATION_COLUMNS if kind == "annotations" else PREDICTION_COLUMNS)
        typer.echo(f"{path}: {n} {kind}")


@app.command("ls")
def ls_command() -> None:
    """List imported media: duration, modality, status, segment and label counts."""
    from emostudio.library import LIBRARY_COLUMNS, format_table, library_rows
    from emostudio.store import open_repository

    rows = library_rows(open_repository())
    typer.echo(format_table(LIBRARY_COLUMNS, rows))
    typer.echo(f"{len(rows)} media")


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option(help="Run at most one queued job, then exit.")] = False,
    parent_pid: Annotated[int | None, typer.Option(hidden=True, help="Stop when this process exits.")] = None,
) -> None:
    """Run the background worker that executes training and analysis jobs."""
    import trainers.jobs  # noqa: F401 - registers the analysis job kind
    from emostudio.store import open_repository
    from trainers.worker import run_forever, run_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    repo = open_repository(settings)
    if once:
        run_once(repo)
    else:
        run_forever(repo, poll_seconds=settings.worker_poll_seconds, parent_pid=parent_pid)


def freeze_startup_objects() -> None:
    """Move everything loaded at start-up (torch, Gradio, plotly: millions of objects) out of
    the garbage collector's reach. Without this, a full collection in the middle of a
    request walks them all and opening a clip takes 0.5 s instead of 0.15 s now and then."""
    import gc

    gc.collect()
    gc.freeze()


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    worker: Annotated[bool | None, typer.Option("--worker/--no-worker", help="Start a background worker process.")] = None,
) -> None:
    """Start the studio web app (and, by default, one background worker)."""
    import uvicorn

    from emostudio.store import open_repository
    from emostudio.ui.server import create_server

    settings = get_settings()
    repo = open_repository(settings)  # migrate before the worker starts, so they never race on it
    worker_proc = None
    if settings.start_worker if worker is None else worker:
        worker_proc = subprocess.Popen([sys.executable, "-m", "emostudio.cli", "worker", "--parent-pid", str(os.getpid())])
    # SIGTERM (e.g. from a process manager) unwinds through `finally`, stopping the worker too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host, port = host or settings.host, port or settings.port
    try:
        typer.echo(f"emostudio: http://{host}:{port}/ (data in {settings.data_dir.resolve()})")
        server = create_server(repo, settings)
        freeze_startup_objects()
        uvicorn.run(server, host=host, port=port, log_level="warning")
    finally:
        if worker_proc is not None:
            worker_proc.terminate()
            worker_proc.wait(timeout=30)


if __name__ == "__main__":
    app()
