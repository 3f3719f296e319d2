"""The ``emostudio`` command line: import, analyze, export, ls, rm, serve, worker, train,
users, backup, restore.

Errors meant for people (``StudioError``) print as one ``error:`` line and exit with
status 2; nothing else is caught, so a bug still shows its traceback.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from emostudio.core.config import get_settings
from emostudio.core.errors import StudioError
from emostudio.core.files import printable

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Multimodal emotion analysis and annotation studio.")
users_app = typer.Typer(no_args_is_help=True, help="People who sign in to the studio, and their roles.")
app.add_typer(users_app, name="users")
train_app = typer.Typer(
    no_args_is_help=True,
    help="Train new model versions from the studio's labels: each run is a worker job, the same as the Train page's.",
)
app.add_typer(train_app, name="train")


def main() -> None:
    """The ``emostudio`` entry point."""
    try:
        app()
    except StudioError as err:
        typer.echo(f"error: {printable(str(err))}", err=True)
        sys.exit(2)


def _tqdm_hook(desc: str, unit: str = "file", messages: bool = False):
    """A tqdm bar driven by a progress hook (and, with ``messages``, printing its lines above it)."""
    bar = tqdm(desc=desc, unit=unit, dynamic_ncols=True)

    def hook(step: str, *, completed=None, total=None, message=None, **_) -> None:
        if messages and message:
            bar.write(printable(message))
        if total is not None and bar.total != total:
            bar.total = total
            bar.refresh()
        if completed is not None:
            bar.update(completed - bar.n)

    return bar, hook


@app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="Media files and folders (searched recursively).")] = None,
    labels: Annotated[
        Path | None,
        typer.Option(help="Label file: CSV (path,emotion[,arousal,valence,dominance,speaker]) or Kaldi .scp."),
    ] = None,
    copy: Annotated[
        bool | None,
        typer.Option("--copy/--in-place", help="Copy files into the store instead of referencing them in place."),
    ] = None,
    transcript_encoding: Annotated[str, typer.Option(help="Text encoding of sidecar transcripts.")] = "utf-8",
    vad: Annotated[bool, typer.Option(help="Run voice activity detection on new media.")] = True,
    recipe: Annotated[
        str | None,
        typer.Option(help="Read the one folder given as this corpus (emodb, ravdess, cremad, mead): media and labels."),
    ] = None,
) -> None:
    """Import media, their sidecar transcripts (.srt/.vtt/.txt) and labels."""
    from emostudio.core.paths import studio_policy
    from emostudio.services.ingest import ImportOptions, import_corpus, import_paths
    from emostudio.services.store import open_repository

    settings = get_settings()
    if recipe is not None and (labels is not None or len(paths or []) != 1):
        raise typer.BadParameter("--recipe reads one corpus folder (its labels come from the corpus)")
    if not paths and labels is None:
        raise typer.BadParameter("give media paths, --labels, or both")
    repo = open_repository(settings)
    options = ImportOptions(
        copy=settings.copy_imports if copy is None else copy,
        media_dir=settings.media_dir,
        transcript_encoding=transcript_encoding,
        vad=vad,
        policy=studio_policy(settings),
    )
    bar, hook = _tqdm_hook("import")
    with bar:
        if recipe is not None:
            report = import_corpus(repo, recipe, paths[0], options=options, hook=hook)
        else:
            report = import_paths(repo, paths or [], labels=labels, options=options, hook=hook)
    print_report(report)
    raise typer.Exit(1 if report.errors or report.stopped else 0)


def print_report(report) -> None:
    for alias, media in report.aliases:
        typer.echo(
            f"note: {alias}: same bytes as {printable(media.path)} (media {media.id}); recorded as an alias", err=True
        )
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    typer.echo(report.summary())


@app.command("analyze")
def analyze_command(
    paths: Annotated[list[Path], typer.Argument(help="Media files and folders (searched recursively).")],
    out: Annotated[Path, typer.Option(help="CSV with one row per clip.")] = Path("predictions.csv"),
    chunks: Annotated[Path | None, typer.Option(help="CSV with one row per chunk (0.25 s).")] = None,
    model: Annotated[
        Path | None, typer.Option(help="Model folder (default: the active version, else the shipped default).")
    ] = None,
    modalities: Annotated[str, typer.Option(help="Comma-separated subset of audio,face,text.")] = "audio,face,text",
    asr: Annotated[
        bool, typer.Option(help="Transcribe media that have no transcript (Whisper; see the asr_model setting).")
    ] = True,
    vad: Annotated[bool, typer.Option(help="Run voice activity detection on new media.")] = True,
) -> None:
    """Import and analyse media headless; write clip (and chunk) predictions as CSV.

    Under `accelerate launch --num_processes N` the files are split between the
    processes (one per GPU, or CPU processes) and the CSVs are merged at the end.
    """
    from accelerate import PartialState

    from emostudio.services.batch import analyze_paths

    state = PartialState(cpu=get_settings().device in ("cpu", "mps"))
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
    captions: Annotated[
        Path | None, typer.Option(help="CSV of captions: generated ones and people's edits, per clip and segment.")
    ] = None,
    traces: Annotated[Path | None, typer.Option(help="CSV of continuous traces, one row per sample.")] = None,
    gold: Annotated[
        Path | None,
        typer.Option(help="CSV of the merged targets (majority label, mean values; --annotator: theirs)."),
    ] = None,
    label_studio: Annotated[
        Path | None,
        typer.Option(
            help="Label Studio tasks (JSON): every media with the model's predictions and people's labels; "
            "the labelling interface is written beside it."
        ),
    ] = None,
    media: Annotated[list[str] | None, typer.Option(help="Only these media ids (repeatable).")] = None,
    model_version: Annotated[
        str | None, typer.Option(help="Predictions of this model version (default: the active one).")
    ] = None,
    annotator: Annotated[str | None, typer.Option(help="Only this annotator's annotations.")] = None,
    source: Annotated[
        str | None, typer.Option(help="Only annotations from this source: human, import or pseudo.")
    ] = None,
) -> None:
    """Export stored predictions and annotations as CSV (what the app's Export page downloads)."""
    from emostudio.services.export import export_table, write_csv
    from emostudio.services.store import open_repository

    asked = {"clips": clips, "segments": segments, "chunks": chunks, "annotations": annotations}
    asked.update(captions=captions, traces=traces, gold=gold)
    targets = [(k, p) for k, p in asked.items() if p]
    if label_studio is not None:
        from emostudio.core.paths import studio_policy
        from emostudio.services.labelstudio import write_label_studio

        studio_policy(get_settings()).check_output(label_studio)
        config, n = write_label_studio(open_repository(write=False), label_studio, model_version)
        typer.echo(f"{label_studio}: {n} Label Studio tasks; labelling interface: {config}")
        if not targets:
            return
    if not targets:
        raise typer.BadParameter("give at least one of " + ", ".join(f"--{k}" for k in [*asked, "label-studio"]))
    from emostudio.core.paths import studio_policy

    policy = studio_policy(get_settings())
    for _, path in targets:
        policy.check_output(path)
    repo = open_repository(write=False)
    for kind, path in targets:
        columns, rows = export_table(
            repo, kind, media_ids=media, model_version=model_version, annotator=annotator, source=source
        )
        try:
            n = write_csv(path, rows, columns)
        except OSError as err:
            raise StudioError(
                f"{path}: cannot be written ({err.strerror or type(err).__name__}); nothing was left there"
            ) from None
        typer.echo(f"{path}: {n} {kind}")


@app.command("export-tiers")
def export_tiers_command(
    media: Annotated[str, typer.Argument(help="The media's id or file name.")],
    out: Annotated[Path, typer.Argument(help="The file to write: .eaf (ELAN) or .TextGrid (Praat).")],
    model_version: Annotated[
        str | None, typer.Option(help="Predictions of this model version (default: the active one).")
    ] = None,
) -> None:
    """Write a media's segments, transcript, each annotator's labels, the model's
    predictions and curves, and the continuous traces as an ELAN or Praat file."""
    from emostudio.core.paths import studio_policy
    from emostudio.services.store import open_repository
    from emostudio.services.tierfiles import export_tier_file

    studio_policy(get_settings()).check_output(out)
    written = export_tier_file(open_repository(write=False), media, out, model_version)
    typer.echo(f"{out}: written" + (f", with {len(written) - 1} time series beside it" if len(written) > 1 else ""))


@app.command("import-tiers")
def import_tiers_command(
    files: Annotated[list[Path], typer.Argument(help=".eaf (ELAN) or .TextGrid (Praat) files.")],
    media: Annotated[
        str | None,
        typer.Option(
            help="The media they belong to (id or name); default: the EAF's linked media, else the same name."
        ),
    ] = None,
) -> None:
    """Import labels, transcripts, speech segments and traces from ELAN or Praat files (a
    bad file gets one error line; the others go on)."""
    from emostudio.services.store import open_repository
    from emostudio.services.tierfiles import import_tier_file

    repo = open_repository()
    failed = 0
    for path in files:
        try:
            found, done = import_tier_file(repo, path, media)
        except StudioError as err:
            failed += 1
            typer.echo(f"error: {err}", err=True)
            continue
        typer.echo(f"{path}: into {found.name}: {done.summary()}")
    raise typer.Exit(1 if failed else 0)


@app.command("ls")
def ls_command() -> None:
    """List imported media: duration, modality, status, segment and label counts."""
    from emostudio.services.library import LIBRARY_COLUMNS, format_table, library_rows
    from emostudio.services.store import open_repository

    rows = library_rows(open_repository(write=False))
    typer.echo(format_table(LIBRARY_COLUMNS, rows))
    typer.echo(f"{len(rows)} media")


@app.command("rm")
def rm_command(
    media_ids: Annotated[list[str], typer.Argument(help="Ids of the media to delete (see `emostudio ls`).")],
) -> None:
    """Delete media and what was derived from them (predictions, features, copies in the store).
    Media someone annotated or captioned are kept: what people entered is never deleted."""
    from emostudio.services.library import delete_media
    from emostudio.services.store import open_repository

    settings = get_settings()
    repo = open_repository(settings)
    failed = False
    for media_id in media_ids:
        try:
            media = delete_media(repo, settings, media_id)
            typer.echo(f"deleted {media.id} ({media.name})")
        except StudioError as err:
            typer.echo(f"error: {err}", err=True)
            failed = True
    raise typer.Exit(1 if failed else 0)


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option(help="Run at most one queued job, then exit.")] = False,
    parent_pid: Annotated[int | None, typer.Option(hidden=True, help="Stop when this process exits.")] = None,
) -> None:
    """Run the background worker that executes training and analysis jobs."""
    import emostudio.trainers.jobs  # noqa: F401 - registers the analysis job kind
    from emostudio.services.store import open_repository
    from emostudio.trainers.worker import run_forever, run_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    repo = open_repository(settings)
    redactions = {str(settings.data_dir.resolve()): "<data folder>"}
    if once:
        run_once(repo, redactions=redactions)
    else:
        run_forever(
            repo,
            poll_seconds=settings.worker_poll_seconds,
            parent_pid=parent_pid,
            heartbeat_seconds=settings.heartbeat_seconds,
            stale_seconds=settings.worker_stale_seconds,
            redactions=redactions,
        )


# options every training command takes
LabelSources = Annotated[str, typer.Option(help="Which labels count, comma-separated: human, import.")]
OneAnnotator = Annotated[
    str | None, typer.Option(help="Learn from this person's labels only (default: everyone's, merged).")
]
LearningRate = Annotated[float, typer.Option(help="Peak learning rate (cosine decay).")]
HeldOut = Annotated[float, typer.Option(help="Share of speakers (or media) held out to measure it.")]
Parent = Annotated[str | None, typer.Option(help="Version to start from (default: the active one).")]
QueueOnly = Annotated[bool, typer.Option(help="Only queue the job for the studio's worker.")]


@train_app.command("finetune")
def finetune_command(
    sources: LabelSources = "human,import",
    annotator: OneAnnotator = None,
    epochs: Annotated[int, typer.Option(help="Passes over the labelled spans.")] = 10,
    lr: LearningRate = 5e-4,
    holdout: HeldOut = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    parent: Parent = None,
    queue: QueueOnly = False,
) -> None:
    """Fine-tune the active version on people's corrections and imported labels.

    Runs here, with a progress bar, unless --queue. Under `torchrun --nproc_per_node N`
    (or `accelerate launch`) the N processes train it together (CPU processes, or one per
    GPU); the first one records the job and registers the version.
    """
    _run_training_job("finetune", _label_options(sources, annotator, epochs, lr, holdout, seed, parent), queue)


@train_app.command("rankers")
def rankers_command(
    sources: LabelSources = "human,import",
    annotator: OneAnnotator = None,
    epochs: Annotated[int, typer.Option(help="Passes of the chunk model over the labelled spans.")] = 10,
    lr: LearningRate = 5e-4,
    holdout: HeldOut = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    parent: Parent = None,
    queue: QueueOnly = False,
) -> None:
    """Train chunk-level rankers (which of two chunks is more aroused, positive, dominant)
    from the labels, and the chunk model's A/V/D curves from their smoothed scores."""
    _run_training_job("rankers", _label_options(sources, annotator, epochs, lr, holdout, seed, parent), queue)


@train_app.command("align")
def align_command(
    sources: LabelSources = "human,import",
    annotator: OneAnnotator = None,
    epochs: Annotated[int, typer.Option(help="Passes over the media.")] = 30,
    lr: LearningRate = 3e-3,
    dim: Annotated[int, typer.Option(help="Size of the space voice and face are aligned in.")] = 32,
    contrastive: Annotated[float, typer.Option(help="Weight of the contrastive loss.")] = 1.0,
    same_label: Annotated[float, typer.Option(help="Weight of the same-emotion pair task.")] = 0.5,
    holdout: HeldOut = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    parent: Parent = None,
    queue: QueueOnly = False,
) -> None:
    """Align voice and face on the library's media that have both, before they are fused.

    Audio and face chunk embeddings are pulled together contrastively (the same moment,
    or the same emotion), with an auxiliary task telling whether a voice and a face carry
    the same emotion; one classifier reads the aligned space. Unlabelled videos align too.
    """
    from emostudio.services.training import AlignOptions

    config = _label_options(sources, annotator, epochs, lr, holdout, seed, parent)
    config.update(dim=dim, contrastive=contrastive, same_label=same_label)
    _run_training_job("align", AlignOptions.from_config(config).to_config(), queue)


@train_app.command("captions")
def captions_command(
    annotator: Annotated[
        str | None, typer.Option(help="Learn from this person's edited captions only (default: everyone's).")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the (audio, edited caption) pairs.")] = 200,
    lr: LearningRate = 1e-3,
    holdout: HeldOut = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    parent: Parent = None,
    queue: QueueOnly = False,
) -> None:
    """Align captions with what annotators write: the projection of a span's audio into
    the sentence space learns from people's edited captions, so the captioner ranks
    candidates that read like them higher. The chunk model does not change."""
    from emostudio.services.training import CaptionOptions

    config = {"annotator": annotator, "epochs": epochs, "lr": lr, "holdout": holdout, "seed": seed}
    _run_training_job("captions", CaptionOptions.from_config({**config, "parent": parent}).to_config(), queue)


def _label_options(sources, annotator, epochs, lr, holdout, seed, parent) -> dict:
    from emostudio.services.training import FinetuneOptions

    return FinetuneOptions.from_config(
        {
            "sources": [x.strip() for x in sources.split(",") if x.strip()],
            "annotator": annotator,
            "epochs": epochs,
            "lr": lr,
            "holdout": holdout,
            "seed": seed,
            "parent": parent,
        }
    ).to_config()


@train_app.command("selftrain")
def selftrain_command(
    sources: LabelSources = "human,import",
    annotator: OneAnnotator = None,
    rounds: Annotated[int, typer.Option(help="Rounds of pseudo-labelling and training.")] = 3,
    share: Annotated[float, typer.Option(help="Share of each class's media pseudo-labelled per round.")] = 0.3,
    epochs: Annotated[int, typer.Option(help="Epochs per round.")] = 5,
    lr: LearningRate = 5e-4,
    consistency: Annotated[float, typer.Option(help="Weight of the clean/perturbed consistency loss.")] = 1.0,
    adapt_inputs: Annotated[
        bool, typer.Option(help="Re-fit the input standardisation on the library's media first.")
    ] = True,
    match_labelled: Annotated[
        bool, typer.Option(help="Match the labelled media's feature statistics to the unlabelled media's.")
    ] = True,
    holdout: HeldOut = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    parent: Parent = None,
    queue: QueueOnly = False,
) -> None:
    """Self-train the active version on the labels and the library's unlabelled media.

    The unlabelled media are pseudo-labelled where the model is confident (class-balanced),
    stored as pseudo-labels with the new version, and never counted as people's labels.
    """
    from emostudio.services.training import SelfTrainOptions

    config = SelfTrainOptions.from_config(
        {
            "sources": [x.strip() for x in sources.split(",") if x.strip()],
            "annotator": annotator,
            "rounds": rounds,
            "share": share,
            "epochs": epochs,
            "lr": lr,
            "consistency": consistency,
            "adapt_inputs": adapt_inputs,
            "match_labelled": match_labelled,
            "holdout": holdout,
            "seed": seed,
            "parent": parent,
        }
    ).to_config()
    _run_training_job("selftrain", config, queue)


def _run_training_job(kind: str, config: dict, queue: bool) -> None:
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    import emostudio.trainers.jobs  # noqa: F401 - registers the job kinds
    from emostudio.services.store import open_repository
    from emostudio.trainers.worker import JOB_HANDLERS, run_job_here

    settings = get_settings()
    repo = open_repository(settings)
    state = PartialState(cpu=settings.device in ("cpu", "mps"))
    ids = [None]
    if state.is_main_process:
        ids = [repo.enqueue_job(kind, config, requested_by="command line").id]
        typer.echo(f"job {ids[0]} ({kind}) queued")
    if queue:
        return
    if state.num_processes > 1:
        broadcast_object_list(ids)
    if not state.is_main_process:  # a helper process: trains its share; the first one records and registers
        JOB_HANDLERS[kind](repo, repo.get_job(ids[0]), lambda *a, **k: None)
        return
    bar, echo = _tqdm_hook("train", unit="step", messages=True)
    with bar:
        job = run_job_here(repo, ids[0], echo, redactions={str(settings.data_dir.resolve()): "<data folder>"})
    if job.status != "succeeded":
        raise StudioError(f"job {job.id} {job.status}: {job.error or 'see its log'}")
    typer.echo(f"registered model version {job.model_version_id} (activate it on the Train page)")


@train_app.command("cancel")
def cancel_command(job_id: Annotated[int, typer.Argument(help="The job to cancel.")]) -> None:
    """Cancel a queued or running job: a running one stops at its next step and registers nothing."""
    from emostudio.services.store import open_repository
    from emostudio.services.training import cancel_job

    job = cancel_job(open_repository(get_settings()), job_id, by="command line")
    typer.echo(f"job {job.id}: cancelled")


def freeze_startup_objects() -> None:
    """Move everything loaded at start-up (torch, Gradio, plotly: millions of objects) out of
    the garbage collector's reach. Without this, a full collection in the middle of a
    request walks them all and opening a clip takes 0.5 s instead of 0.15 s now and then."""
    import gc

    gc.collect()
    gc.freeze()


def check_binding(host: str, has_users: bool) -> str | None:
    """Refuse (``StudioError``) to listen beyond this machine without users; returns a
    warning for a non-loopback address with users (passwords travel in clear over HTTP)."""
    from emostudio.services.users import is_loopback

    if is_loopback(host):
        return None
    if not has_users:
        raise StudioError(
            f"the studio has no users, so it only listens on 127.0.0.1 (asked: {host}); anyone who can reach "
            f"{host} could read and change everything. Add an admin first: emostudio users add NAME --role admin"
        )
    return (
        f"listening on {host}: sign-in is required, but over plain HTTP passwords and recordings travel in "
        "clear; put the studio behind an HTTPS reverse proxy"
    )


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    worker: Annotated[
        bool | None, typer.Option("--worker/--no-worker", help="Start a background worker process.")
    ] = None,
) -> None:
    """Start the studio web app (and, by default, one background worker it keeps alive)."""
    import uvicorn

    from emostudio.services.store import open_repository
    from emostudio.trainers.supervisor import Supervisor
    from emostudio.ui.server import create_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    repo = open_repository(settings)  # migrate before the worker starts, so they never race on it
    warning = check_binding(host, repo.has_users())
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    supervisor = Supervisor(repo, settings, start_worker=settings.start_worker if worker is None else worker)
    # SIGTERM (e.g. from a process manager) unwinds through `finally`, stopping the worker too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server = create_server(repo, settings)
        supervisor.start()
        mode = "sign-in required" if repo.has_users() else "no users: this machine only"
        typer.echo(f"emostudio: http://{host}:{port}/ ({mode}; data in {settings.data_dir.resolve()})")
        freeze_startup_objects()
        # open browser tabs keep event streams open: give them 5 s on shutdown, not forever
        uvicorn.run(server, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        supervisor.stop()


# -- users --------------------------------------------------------------------------------


def _password(prompt_twice: bool, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=prompt_twice)


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[
        str, typer.Option(help="viewer (look, export), annotator (also correct, upload) or admin.")
    ] = "annotator",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input (for scripts).")] = False,
) -> None:
    """Add a person who signs in. The first user switches the studio to sign-in mode
    (at its next start); only then may it listen beyond 127.0.0.1."""
    from emostudio.services.store import open_repository
    from emostudio.services.users import add_user

    repo = open_repository()
    user = add_user(repo, name, role, _password(True, password_stdin))
    typer.echo(f"added {user.name} ({user.role}); a running studio asks for sign-in after its next start")


@users_app.command("list")
def users_list() -> None:
    """Users and their roles."""
    from emostudio.services.store import open_repository

    users = open_repository(write=False).list_users()
    for u in users:
        typer.echo(f"{u.name}\t{u.role}" + ("\tdisabled" if u.disabled else ""))
    typer.echo(f"{len(users)} users" + ("" if users else " (the studio runs for this machine only, no sign-in)"))


@users_app.command("set-role")
def users_set_role(name: str, role: str) -> None:
    """Change someone's role."""
    from emostudio.services.store import open_repository
    from emostudio.services.users import set_role

    user = set_role(open_repository(), name, role)
    typer.echo(f"{user.name} is now {user.role}")


@users_app.command("passwd")
def users_passwd(
    name: str,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
) -> None:
    """Set someone's password."""
    from emostudio.services.store import open_repository
    from emostudio.services.users import set_password

    set_password(open_repository(), name, _password(True, password_stdin))
    typer.echo(f"password of {name} changed")


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Stop someone from signing in (their annotations stay, under their name)."""
    from emostudio.services.store import open_repository

    open_repository().update_user(name, disabled=True)
    typer.echo(f"{name} can no longer sign in")


# -- backup and restore ---------------------------------------------------------------------


@app.command("backup")
def backup_command(file: Annotated[Path, typer.Argument(help="The backup file to write (SQLite).")]) -> None:
    """Write a consistent copy of the database, safe while the studio runs."""
    from emostudio.core.paths import studio_policy
    from emostudio.db.backup import backup_database
    from emostudio.services.store import open_repository

    studio_policy(get_settings()).check_output(file)
    path = backup_database(open_repository(write=False).engine, file)
    typer.echo(f"{path}: backup written ({path.stat().st_size / 1e6:.1f} MB)")


@app.command("archive")
def archive_command(
    file: Annotated[Path, typer.Argument(help="The archive to write (.tar, or .tar.gz to compress it).")],
    media: Annotated[bool, typer.Option(help="Include the media files copied into the studio's store.")] = False,
) -> None:
    """Write the whole project (database, chunk outputs, trained model versions) to one file."""
    from emostudio.core.paths import studio_policy
    from emostudio.services.archive import write_archive
    from emostudio.services.store import open_repository

    settings = get_settings()
    studio_policy(settings).check_output(file)
    summary = write_archive(open_repository(settings, write=False), settings, file, with_media=media)
    typer.echo(f"{file}: {summary}")


@app.command("restore-archive")
def restore_archive_command(
    file: Annotated[Path, typer.Argument(help="An archive written by `emostudio archive`.")],
) -> None:
    """Restore an archive into an empty data folder (EMOSTUDIO_DATA_DIR)."""
    from emostudio.services.archive import restore_archive

    settings = get_settings()
    summary = restore_archive(file, settings)
    typer.echo(f"restored {file} into {settings.data_dir}: {summary}")


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup written by `emostudio backup` (or an automatic one).")],
    force: Annotated[bool, typer.Option(help="Restore even though a studio or worker seems to be running.")] = False,
) -> None:
    """Replace the database with a backup. What is there now is backed up first."""
    from datetime import timedelta

    from emostudio.db.backup import restore_database
    from emostudio.services.store import open_repository

    settings = get_settings()
    repo = open_repository(settings)
    running = repo.processes(since=timedelta(seconds=settings.worker_stale_seconds))
    if running and not force:
        names = ", ".join(f"{p.role} {p.name}" for p in running)
        raise StudioError(f"stop the studio first: {names} still running (or pass --force)")
    repo.engine.dispose()
    safety = restore_database(settings.db_url, file, settings.backups_dir, settings.arrays_dir)
    typer.echo(f"restored {file}" + (f"; the database from before is at {safety}" if safety else ""))


if __name__ == "__main__":
    main()
