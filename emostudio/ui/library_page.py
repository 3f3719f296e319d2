"""The Library page: upload or import media, see and filter the library, follow analysis."""

from __future__ import annotations

import gradio as gr

from emostudio.core.labels import LABELS
from emostudio.services.inspect import active_labels
from emostudio.services.library import (
    LIBRARY_SORTS,
    UI_COLUMNS,
    LibraryFilter,
    analysis_progress,
    delete_media,
    import_server_paths,
    import_uploads,
    queue_analysis,
    studio_page,
    studio_rows,
)
from emostudio.ui.context import StudioContext, guarded

ANY = ("any", "")
STATUSES = [ANY, "imported", "analysing", "analysed", "failed"]


def report_markdown(report, job) -> str:
    lines = [report.summary() + "."]
    if job is not None:
        lines.append(f"Analysis queued as job {job.id}; the table updates as media are analysed.")
    lines += [f"- warning: {w}" for w in report.warnings]
    lines += [f"- error: {e}" for e in report.errors]
    return "\n".join(lines)


class LibraryPage:
    def __init__(self, ctx: StudioContext, tab: gr.Tab):
        """The page inside ``tab``: its table refreshes when the tab is chosen and every 2 s
        while it is shown (``timer``, switched by the app)."""
        self.ctx = ctx
        s = ctx.settings
        with gr.Row():
            with gr.Column(scale=2):
                self.upload = gr.File(
                    file_count="multiple",
                    label="Drop audio / video files here, with .srt/.vtt/.txt "
                    "transcripts named like them and a labels .csv/.scp naming them; they are "
                    "copied into the studio and analysed",
                    elem_id="es-upload",
                )
            with gr.Column(scale=2, visible=False) as self.server_import:
                folder = gr.Textbox(label="Folder on the server", placeholder="/data/interviews")
                labels = gr.Textbox(label="Label file on the server (CSV or Kaldi .scp)", placeholder="labels.csv")
                copy = gr.Checkbox(value=s.copy_imports, label="Copy into the studio (else read in place)")
                import_button = gr.Button("Import and analyse")
        self.report = gr.Markdown(elem_id="es-import-report")
        self.progress = gr.Markdown(elem_id="es-progress")
        with gr.Row():
            text = gr.Textbox(label="Search name or id", scale=2)
            status = gr.Dropdown(STATUSES, value="", label="Status", scale=1)
            self.top = top = gr.Dropdown([ANY, *LABELS.basic], value="", label="Top emotion", scale=1)
            annotated = gr.Dropdown([ANY, "yes", "no"], value="", label="Annotated", scale=1)
            self.reanalyse = gr.Button("Analyse what the active model has not", scale=1, size="sm", visible=False)
            sort = gr.Dropdown(list(LIBRARY_SORTS), value="added", label="Sort by", scale=1, elem_id="es-library-sort")
        self.table = gr.Dataframe(
            headers=list(UI_COLUMNS), value=lambda: studio_rows(ctx.repo), interactive=False, elem_id="es-library"
        )
        with gr.Row():
            previous = gr.Button("◀ Previous", size="sm", scale=0, elem_id="es-library-previous")
            self.pager = gr.Markdown(elem_id="es-library-pager")
            following = gr.Button("Next ▶", size="sm", scale=0, elem_id="es-library-next")
        page = gr.State(0)
        with gr.Row(visible=False) as self.delete_row:
            delete_id = gr.Textbox(
                label="Media id to delete (media someone annotated are kept)", scale=3, elem_id="es-delete-id"
            )
            delete = gr.Button("Delete media", variant="stop", scale=1, elem_id="es-delete")
        filters = [text, status, top, annotated]
        self.timer = gr.Timer(2.0)  # the Library is the page a studio opens on

        def rows(*values):  # the first page, as a filter or an import leaves it
            return studio_page(ctx.repo, LibraryFilter(*values)).rows

        def paged(number, sort_, *values):
            shown = studio_page(ctx.repo, LibraryFilter(*values), page=number, sort=sort_)
            return shown.rows, shown.page, shown.summary()

        # Gradio passes the request and progress only to parameters before any *args
        @guarded
        def uploaded(files, text_, status_, top_, annotated_, request: gr.Request, progress=gr.Progress()):
            user = ctx.user(request, "upload")
            if not files:
                return gr.skip(), gr.skip(), gr.skip()
            report = import_uploads(
                ctx.repo,
                files,
                s.media_dir,
                hook=_progress_hook(progress),
                policy=ctx.upload_policy(),
                requested_by=user.name,
            )
            job = queue_analysis(ctx.repo, [m.id for m in report.added + report.known], requested_by=user.name)
            return report_markdown(report, job), rows(text_, status_, top_, annotated_), None

        @guarded
        def imported(
            folder_, labels_, copy_, text_, status_, top_, annotated_, request: gr.Request, progress=gr.Progress()
        ):
            user = ctx.user(request, "import_server_folder")
            report = import_server_paths(
                ctx.repo, folder_, labels_, copy_, s.media_dir, ctx.import_policy(), hook=_progress_hook(progress)
            )
            job = queue_analysis(ctx.repo, [m.id for m in report.added + report.known], requested_by=user.name)
            return report_markdown(report, job), rows(text_, status_, top_, annotated_)

        shown = gr.State([])  # the rows on screen: an unchanged table is not re-sent (keeps scroll and selection)

        def refresh(previous, number, sort_, *values):
            """Every 2 s: the page on screen (one indexed query), sent only when it changed."""
            current, number, summary = paged(number, sort_, *values)
            current = [list(r) for r in current]
            changed = current != previous
            return (current if changed else gr.skip()), current, number, summary, analysis_progress(ctx.repo)

        @guarded
        def queue_all(request: gr.Request):
            user = ctx.user(request, "queue_analysis")
            job = queue_analysis(ctx.repo, requested_by=user.name)
            return f"Analysis queued as job {job.id}."

        @guarded
        def remove(media_id, text_, status_, top_, annotated_, request: gr.Request):
            ctx.user(request, "delete_media")
            media = delete_media(ctx.repo, s, (media_id or "").strip())
            return f"Deleted {media.name} ({media.id}).", rows(text_, status_, top_, annotated_), ""

        self.upload.upload(uploaded, inputs=[self.upload, *filters], outputs=[self.report, self.table, self.upload])
        import_button.click(imported, inputs=[folder, labels, copy, *filters], outputs=[self.report, self.table])
        for f in [*filters, sort]:  # a new filter or order starts at the first page
            f.change(lambda *v: paged(0, *v), inputs=[sort, *filters], outputs=[self.table, page, self.pager])
        previous.click(
            lambda n, *v: paged(n - 1, *v), inputs=[page, sort, *filters], outputs=[self.table, page, self.pager]
        )
        following.click(
            lambda n, *v: paged(n + 1, *v), inputs=[page, sort, *filters], outputs=[self.table, page, self.pager]
        )
        gr.on(
            [self.timer.tick, tab.select],
            refresh,
            inputs=[shown, page, sort, *filters],
            outputs=[self.table, shown, page, self.pager, self.progress],
            show_progress="hidden",
        )
        self.reanalyse.click(queue_all, outputs=self.report)
        delete.click(remove, inputs=[delete_id, *filters], outputs=[self.report, self.table, delete_id])

    @property
    def load_outputs(self) -> list:
        return [self.server_import, self.reanalyse, self.delete_row, self.upload, self.top]

    def load_updates(self, request: gr.Request) -> list:
        may = self.ctx.may
        return [
            gr.Column(visible=may(request, "import_server_folder")),
            gr.Button(visible=may(request, "queue_analysis")),
            gr.Row(visible=may(request, "delete_media")),
            gr.File(interactive=may(request, "upload")),
            gr.Dropdown(choices=[ANY, *active_labels(self.ctx.repo).basic]),
        ]


def _progress_hook(progress: gr.Progress):
    def hook(step: str, *, completed=None, total=None, **_) -> None:
        if total:
            progress((completed or 0) / total, desc=f"{step}: {completed:g} of {total:g} files")

    return hook
