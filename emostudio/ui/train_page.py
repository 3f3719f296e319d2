"""The Train page: fine-tuning from corrections, background jobs with live progress (a
plot of loss and held-out UAR), logs and cancel; model versions, each trained one beside
its parent on the same held-out media; activate / roll back."""

from __future__ import annotations

import json

import gradio as gr

from emostudio.core.domain import ALIGN_JOB, CAPTION_JOB, FINETUNE_JOB, RANKERS_JOB, SELFTRAIN_JOB
from emostudio.db.repository import Repository
from emostudio.services.health import worker_status
from emostudio.services.library import queue_analysis
from emostudio.services.training import HUMAN_SOURCES, JOB_OPTIONS, annotators, cancel_job, comparison, queue_training
from emostudio.services.versions import VERSION_COLUMNS, activate, previous_version, version_rows
from emostudio.ui.context import StudioContext, guarded
from emostudio.ui.train_figures import comparison_figure, progress_figure

JOB_COLUMNS = ("id", "kind", "status", "progress", "created", "finished", "model version", "error")
EVERYONE = "everyone (merged)"
TRAINING = {
    FINETUNE_JOB: "fine-tune on the labels",
    SELFTRAIN_JOB: "self-train: the labels and the library's unlabelled media",
    RANKERS_JOB: "chunk rankers: A/V/D curves from which-chunk-is-more preferences",
    ALIGN_JOB: "align voice and face: the library's videos, before fusion",
    CAPTION_JOB: "align captions with the annotators' edited captions",
}


def job_rows(repo: Repository) -> list[tuple]:
    rows = []
    for j in repo.list_jobs():
        progress = f"{j.progress_completed:g}/{j.progress_total:g}" if j.progress_total else ""
        rows.append(
            (
                j.id,
                j.kind,
                j.status,
                progress,
                f"{j.created_at:%Y-%m-%d %H:%M:%S}",
                f"{j.finished_at:%H:%M:%S}" if j.finished_at else "",
                j.model_version_id or "",
                j.error or "",
            )
        )
    return rows


def job_detail(repo: Repository, job_id) -> tuple[str, str]:
    job = repo.get_job(int(job_id)) if job_id else None
    if job is None:
        return "", ""
    return job.log, json.dumps({k: v for k, v in job.metrics.items() if k != "history"}, indent=2)


def compared(repo: Repository, version_id: str | None):
    """The comparison table and figure for a version (empty for one no job measured)."""
    version = repo.get_model_version(version_id) if version_id else None
    if version is None:
        return [], None, ""
    rows, held = comparison(version)
    if not rows:
        return [], None, f"Version **{version.id}** was not trained here: it has no held-out comparison."
    note = (
        f"**{version.id}** beside its parent **{version.parent_id}**, on the same "
        f"{held.get('spans', 0)} held-out spans (from {len(held.get('groups', []))} speaker(s) or media neither trained on)."
    )
    return rows, comparison_figure(held, version.parent_id, version.id), note


class TrainPage:
    def __init__(self, ctx: StudioContext, tab: gr.Tab):
        """The page inside ``tab``: its jobs and versions refresh when the tab is chosen and
        every 2 s while it is shown (``timer``, switched by the app)."""
        self.ctx = ctx
        repo = ctx.repo
        stale = ctx.settings.worker_stale_seconds
        gr.Markdown(
            "Train a new version from the active one on people's corrections and imported labels (and, "
            "self-training, on the library's unlabelled media, pseudo-labelled where the model is sure); the "
            "background worker trains it, measures it beside its parent on held-out media, and registers it. "
            "Analysis jobs (from uploads, imports and version changes) show here too."
        )
        liveness = gr.Markdown(lambda: worker_status(repo, stale), elem_id="es-workers")
        with gr.Row(visible=False, equal_height=True) as self.train_controls:
            kind = gr.Radio(
                [(TRAINING[k], k) for k in TRAINING], value=FINETUNE_JOB, label="How", scale=3, elem_id="es-train-kind"
            )
            sources = gr.CheckboxGroup(
                list(HUMAN_SOURCES), value=list(HUMAN_SOURCES), label="Labels that count", scale=2
            )
            annotator = gr.Dropdown([EVERYONE], value=EVERYONE, label="Whose labels", scale=2)
            annotator.focus(lambda: gr.Dropdown(choices=[EVERYONE, *annotators(repo)]), outputs=annotator)
            epochs = gr.Number(
                value=JOB_OPTIONS[FINETUNE_JOB].epochs, precision=0, minimum=1, maximum=500, label="Epochs", scale=1
            )
            kind.change(lambda k: JOB_OPTIONS[k].epochs, inputs=kind, outputs=epochs)
            finetune = gr.Button("Train from the active version", variant="primary", scale=2, elem_id="es-finetune")
        jobs = gr.Dataframe(
            headers=list(JOB_COLUMNS), value=lambda: job_rows(repo), interactive=False, elem_id="es-jobs"
        )
        with gr.Row():
            job_id = gr.Number(label="Job id (or click a row)", value=None, precision=0, scale=1, elem_id="es-job-id")
            self.cancel = cancel = gr.Button("Cancel this job", scale=1, visible=False, elem_id="es-cancel")
            self.analyse = analyse = gr.Button("Analyse the library with the active model", scale=1, visible=False)
        progress = gr.Plot(show_label=False, elem_id="es-train-progress")
        with gr.Row():
            log = gr.Textbox(label="Log", lines=10, max_lines=20, autoscroll=True, scale=2)
            metrics = gr.Code(label="Metrics", language="json", scale=1)
        gr.Markdown("### Model versions")
        versions = gr.Dataframe(
            headers=list(VERSION_COLUMNS), value=lambda: version_rows(repo), interactive=False, elem_id="es-versions"
        )
        with gr.Row(visible=False) as self.version_controls:
            chosen = gr.Dropdown([v[0] for v in version_rows(repo)], label="Version", scale=2, elem_id="es-version")
            chosen.focus(lambda: gr.Dropdown(choices=[v[0] for v in version_rows(repo)]), outputs=chosen)
            activate_button = gr.Button("Activate", scale=1, elem_id="es-activate")
            rollback_button = gr.Button("Roll back to the previous version", scale=1)
        status = gr.Markdown(elem_id="es-train-status")
        compare_note = gr.Markdown(elem_id="es-compare-note")
        with gr.Row():
            compare_table = gr.Dataframe(
                headers=["measure", "parent", "new version"], interactive=False, scale=2, elem_id="es-compare"
            )
            compare_plot = gr.Plot(show_label=False, scale=3, elem_id="es-compare-plot")
        self.timer = gr.Timer(2.0, active=False)

        shown = gr.State([])
        plotted = gr.State(None)  # what the progress plot shows, so an unchanged job is not redrawn
        version_shown = gr.State(None)  # the version being compared

        def refresh(previous, job_id_, drawn, comparing):
            current = [list(r) for r in job_rows(repo)]
            changed = current != previous
            job = repo.get_job(int(job_id_)) if job_id_ else None
            key = (
                None
                if job is None
                else [job.id, job.status, job.progress_completed, len(job.metrics.get("history", []))]
            )
            finished_version = job.model_version_id if job is not None and job.model_version_id else None
            follow = finished_version if finished_version and finished_version != comparing else None
            # a finished job may have registered a version: the versions table follows the jobs table
            return (
                (current if changed else gr.skip()),
                current,
                *job_detail(repo, job_id_),
                version_rows(repo) if changed else gr.skip(),
                worker_status(repo, stale),
                progress_figure(job) if key != drawn else gr.skip(),
                key,
                follow or gr.skip(),
                gr.Dropdown(choices=[v[0] for v in version_rows(repo)], value=follow) if follow else gr.skip(),
            )

        def picked(evt: gr.SelectData):
            return evt.row_value[0]

        def picked_version(evt: gr.SelectData):
            return evt.row_value[0], evt.row_value[0]

        def switch(version_id, user):
            if not version_id:
                return "Choose a version.", gr.skip(), gr.skip()
            try:
                version, job = activate(repo, version_id, requested_by=user.name)
            except (KeyError, FileNotFoundError) as err:
                return f"**Not activated:** {err}", gr.skip(), gr.skip()
            note = f" Re-analysis queued as job {job.id}." if job else ""
            return (
                f"Active version: **{version.id}**.{note}",
                version_rows(repo),
                gr.Dropdown(choices=[v[0] for v in version_rows(repo)], value=version.id),
            )

        @guarded
        def activate_chosen(version_id, request: gr.Request):
            return switch(version_id, ctx.user(request, "activate_model"))

        @guarded
        def rollback(request: gr.Request):
            user = ctx.user(request, "activate_model")
            previous = previous_version(repo)
            if previous is None:
                return "There is no earlier version to roll back to.", gr.skip(), gr.skip()
            return switch(previous.id, user)

        @guarded
        def analyse_all(request: gr.Request):
            user = ctx.user(request, "queue_analysis")
            return f"Analysis queued as job {queue_analysis(repo, requested_by=user.name).id}."

        @guarded
        def start_training(kind_, sources_, annotator_, epochs_, request: gr.Request):
            user = ctx.user(request, "train")
            config = {
                "annotator": None if annotator_ in (None, EVERYONE) else annotator_,
                "epochs": int(epochs_ or JOB_OPTIONS[kind_].epochs),
            }
            if kind_ != CAPTION_JOB:  # captions learn from edited captions, not from labels
                config["sources"] = sources_ or []
            job = queue_training(repo, kind_, config, requested_by=user.name)
            what = {
                FINETUNE_JOB: "Fine-tuning",
                SELFTRAIN_JOB: "Self-training",
                RANKERS_JOB: "Ranker training",
                ALIGN_JOB: "Voice-face alignment",
                CAPTION_JOB: "Caption alignment",
            }[kind_]
            return f"{what} queued as job {job.id}; its progress shows below.", job.id

        @guarded
        def cancel_chosen(job_id_, request: gr.Request):
            user = ctx.user(request, "train")
            if not job_id_:
                return "Choose a job (click its row) to cancel."
            job = cancel_job(repo, int(job_id_), by=user.name)
            return f"Job {job.id} cancelled: it stops at its next step and registers nothing."

        gr.on(
            [self.timer.tick, tab.select],
            refresh,
            inputs=[shown, job_id, plotted, version_shown],
            outputs=[jobs, shown, log, metrics, versions, liveness, progress, plotted, version_shown, chosen],
            show_progress="hidden",
        )
        jobs.select(picked, outputs=job_id)
        job_id.change(lambda j: job_detail(repo, j), inputs=job_id, outputs=[log, metrics])
        versions.select(picked_version, outputs=[chosen, version_shown])
        version_shown.change(
            lambda v: compared(repo, v), inputs=version_shown, outputs=[compare_table, compare_plot, compare_note]
        )
        finetune.click(start_training, inputs=[kind, sources, annotator, epochs], outputs=[status, job_id])
        cancel.click(cancel_chosen, inputs=job_id, outputs=status)
        analyse.click(analyse_all, outputs=status)
        activate_button.click(activate_chosen, inputs=chosen, outputs=[status, versions, chosen])
        rollback_button.click(rollback, outputs=[status, versions, chosen])

    @property
    def load_outputs(self) -> list:
        return [self.analyse, self.version_controls, self.train_controls, self.cancel]

    def load_updates(self, request: gr.Request) -> list:
        return [
            gr.Button(visible=self.ctx.may(request, "queue_analysis")),
            gr.Row(visible=self.ctx.may(request, "activate_model")),
            gr.Row(visible=self.ctx.may(request, "train")),
            gr.Button(visible=self.ctx.may(request, "train")),
        ]
