"""The Library page: upload or import media, see and filter the library, follow analysis."""

from __future__ import annotations

import gradio as gr

from emostudio.labels import BASIC
from emostudio.library import (
    UI_COLUMNS,
    LibraryFilter,
    analysis_progress,
    import_server_paths,
    import_uploads,
    queue_analysis,
    studio_rows,
)
from emostudio.ui.context import StudioContext

ANY = ("any", "")
STATUSES = [ANY, "imported", "analysing", "analysed", "failed"]


def report_markdown(report, job) -> str:
    lines = [report.summary() + "."]
    if job is not None:
        lines.append(f"Analysis queued as job {job.id}; the table updates as media are analysed.")
    lines += [f"- error: {e}" for e in report.errors]
    return "\n".join(lines)


class LibraryPage:
    def __init__(self, ctx: StudioContext):
        self.ctx = ctx
        s = ctx.settings
        with gr.Row():
            with gr.Column(scale=2):
                self.upload = gr.File(file_count="multiple", label="Drop audio / video files here, with .srt/.vtt/.txt "
                                      "transcripts named like them and a labels .csv/.scp naming them; they are "
                                      "copied into the studio and analysed",
                                      elem_id="es-upload")  # fmt: skip
            with gr.Column(scale=2):
                folder = gr.Textbox(label="Folder on the server", placeholder="/data/interviews")
                labels = gr.Textbox(label="Label file on the server (CSV or Kaldi .scp)", placeholder="labels.csv")
                copy = gr.Checkbox(value=s.copy_imports, label="Copy into the studio (else read in place)")
                import_button = gr.Button("Import and analyse")
        self.report = gr.Markdown(elem_id="es-import-report")
        self.progress = gr.Markdown(elem_id="es-progress")
        with gr.Row():
            text = gr.Textbox(label="Search name or id", scale=2)
            status = gr.Dropdown(STATUSES, value="", label="Status", scale=1)
            top = gr.Dropdown([ANY, *BASIC], value="", label="Top emotion", scale=1)
            annotated = gr.Dropdown([ANY, "yes", "no"], value="", label="Annotated", scale=1)
            reanalyse = gr.Button("Analyse what the active model has not", scale=1, size="sm")
        self.table = gr.Dataframe(headers=list(UI_COLUMNS), value=lambda: studio_rows(ctx.repo), interactive=False,
                                  elem_id="es-library")  # fmt: skip
        filters = [text, status, top, annotated]
        timer = gr.Timer(2.0)

        def rows(*values):
            return studio_rows(ctx.repo, LibraryFilter(*values))

        def uploaded(files, *values, progress=gr.Progress()):
            if not files:
                return gr.skip(), gr.skip(), gr.skip()
            report = import_uploads(ctx.repo, files, s.media_dir, hook=_progress_hook(progress))
            job = queue_analysis(ctx.repo, [m.id for m in report.added + report.known])
            return report_markdown(report, job), rows(*values), None

        def imported(folder_, labels_, copy_, *values, progress=gr.Progress()):
            report = import_server_paths(ctx.repo, folder_, labels_, copy_, s.media_dir, hook=_progress_hook(progress))
            job = queue_analysis(ctx.repo, [m.id for m in report.added + report.known])
            return report_markdown(report, job), rows(*values)

        shown = gr.State([])  # the rows on screen: an unchanged table is not re-sent (keeps scroll and selection)

        def refresh(previous, *values):
            current = [list(r) for r in rows(*values)]
            return (gr.skip() if current == previous else current), current, analysis_progress(ctx.repo)

        def queue_all():
            job = queue_analysis(ctx.repo)
            return f"Analysis queued as job {job.id}."

        self.upload.upload(uploaded, inputs=[self.upload, *filters], outputs=[self.report, self.table, self.upload])
        import_button.click(imported, inputs=[folder, labels, copy, *filters], outputs=[self.report, self.table])
        for f in filters:
            f.change(rows, inputs=filters, outputs=self.table)
        timer.tick(refresh, inputs=[shown, *filters], outputs=[self.table, shown, self.progress], show_progress="hidden")
        reanalyse.click(queue_all, outputs=self.report)


def _progress_hook(progress: gr.Progress):
    def hook(step: str, *, completed=None, total=None, **_) -> None:
        if total:
            progress((completed or 0) / total, desc=f"{step}: {completed:g} of {total:g} files")

    return hook
