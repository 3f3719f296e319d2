"""The Train page: background jobs with live progress and logs, model versions, activate / roll back."""

from __future__ import annotations

import json

import gradio as gr

from emostudio.db.repository import Repository
from emostudio.services.health import worker_status
from emostudio.services.library import queue_analysis
from emostudio.services.versions import VERSION_COLUMNS, activate, previous_version, version_rows
from emostudio.ui.context import StudioContext, guarded

JOB_COLUMNS = ("id", "kind", "status", "progress", "created", "finished", "model version", "error")


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
    return job.log, json.dumps(job.metrics, indent=2)


class TrainPage:
    def __init__(self, ctx: StudioContext):
        self.ctx = ctx
        repo = ctx.repo
        stale = ctx.settings.worker_stale_seconds
        gr.Markdown(
            "Training jobs run in the background worker; their kinds arrive with the trainers. "
            "Analysis jobs (from uploads, imports and version changes) show here too."
        )
        liveness = gr.Markdown(lambda: worker_status(repo, stale), elem_id="es-workers")
        jobs = gr.Dataframe(
            headers=list(JOB_COLUMNS), value=lambda: job_rows(repo), interactive=False, elem_id="es-jobs"
        )
        with gr.Row():
            job_id = gr.Number(label="Job id (or click a row)", value=None, precision=0, scale=1)
            self.analyse = analyse = gr.Button("Analyse the library with the active model", scale=1, visible=False)
        with gr.Row():
            log = gr.Textbox(label="Log", lines=10, max_lines=20, autoscroll=True, scale=2)
            metrics = gr.Code(label="Metrics", language="json", scale=1)
        gr.Markdown("### Model versions")
        versions = gr.Dataframe(
            headers=list(VERSION_COLUMNS), value=lambda: version_rows(repo), interactive=False, elem_id="es-versions"
        )
        with gr.Row(visible=False) as self.version_controls:
            chosen = gr.Dropdown([v[0] for v in version_rows(repo)], label="Version", scale=2)
            chosen.focus(lambda: gr.Dropdown(choices=[v[0] for v in version_rows(repo)]), outputs=chosen)
            activate_button = gr.Button("Activate", scale=1)
            rollback_button = gr.Button("Roll back to the previous version", scale=1)
        status = gr.Markdown()
        timer = gr.Timer(2.0)

        shown = gr.State([])

        def refresh(previous, job_id_):
            current = [list(r) for r in job_rows(repo)]
            changed = current != previous
            # a finished job may have registered a version: the versions table follows the jobs table
            return (
                (current if changed else gr.skip()),
                current,
                *job_detail(repo, job_id_),
                version_rows(repo) if changed else gr.skip(),
                worker_status(repo, stale),
            )

        def picked(evt: gr.SelectData):
            return evt.row_value[0]

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

        timer.tick(
            refresh,
            inputs=[shown, job_id],
            outputs=[jobs, shown, log, metrics, versions, liveness],
            show_progress="hidden",
        )
        jobs.select(picked, outputs=job_id)
        job_id.change(lambda j: job_detail(repo, j), inputs=job_id, outputs=[log, metrics])
        analyse.click(analyse_all, outputs=status)
        activate_button.click(activate_chosen, inputs=chosen, outputs=[status, versions, chosen])
        rollback_button.click(rollback, outputs=[status, versions, chosen])

    @property
    def load_outputs(self) -> list:
        return [self.analyse, self.version_controls]

    def load_updates(self, request: gr.Request) -> list:
        return [
            gr.Button(visible=self.ctx.may(request, "queue_analysis")),
            gr.Row(visible=self.ctx.may(request, "activate_model")),
        ]
