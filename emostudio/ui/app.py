"""The studio's Gradio Blocks. Callbacks are thin: they call one service and format it."""

from __future__ import annotations

import gradio as gr

from db.repository import Repository
from emostudio.inspect import curves_figure, load_clip_view, media_choices, ranked_emotions
from emostudio.library import LIBRARY_COLUMNS, library_rows

JOB_COLUMNS = ("id", "kind", "status", "progress", "created", "error")


def job_rows(repo: Repository) -> list[tuple]:
    rows = []
    for j in repo.list_jobs():
        progress = f"{j.progress_completed:g}/{j.progress_total:g}" if j.progress_total else ""
        rows.append((j.id, j.kind, j.status, progress, f"{j.created_at:%Y-%m-%d %H:%M}", j.error or ""))
    return rows


def build_app(repo: Repository) -> gr.Blocks:
    with gr.Blocks(title="emostudio") as app:
        gr.Markdown("# emostudio\nMultimodal emotion analysis and annotation.")
        with gr.Tab("Library"):
            library = gr.Dataframe(headers=list(LIBRARY_COLUMNS), value=lambda: library_rows(repo), interactive=False)
            gr.Button("Refresh").click(lambda: library_rows(repo), outputs=library)
        with gr.Tab("Inspect"):
            picker = gr.Dropdown(choices=media_choices(repo), label="Media")
            figure = gr.Plot(label="Emotion over time")
            ranked = gr.Dataframe(headers=["kind", "emotion", "score"], label="Clip", interactive=False)

            def show(media_id):
                if not media_id:
                    return None, []
                view = load_clip_view(repo, media_id)
                return curves_figure(view), ranked_emotions(view.clip)

            picker.change(show, inputs=picker, outputs=[figure, ranked])
            gr.Button("Refresh list").click(lambda: gr.Dropdown(choices=media_choices(repo)), outputs=picker)
        with gr.Tab("Train"):
            jobs = gr.Dataframe(headers=list(JOB_COLUMNS), value=lambda: job_rows(repo), interactive=False)
            gr.Button("Refresh").click(lambda: job_rows(repo), outputs=jobs)
    return app
