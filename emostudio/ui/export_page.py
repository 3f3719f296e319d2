"""The Export page: the same CSVs as `emostudio export`, filtered the same way."""

from __future__ import annotations

from html import escape

import gradio as gr

from emostudio.services.export import EXPORT_KINDS, export_files
from emostudio.services.inspect import media_choices
from emostudio.ui.context import StudioContext, guarded

SOURCES = ["", "human", "import", "pseudo"]


class ExportPage:
    def choices(self):
        repo = self.repo
        annotators = sorted({a.annotator for a in repo.annotations()})
        return (
            gr.Dropdown(choices=media_choices(repo)),
            gr.Dropdown(choices=[""] + [v.id for v in repo.list_model_versions()]),
            gr.Dropdown(choices=[""] + annotators),
        )

    def __init__(self, ctx: StudioContext):
        self.repo = repo = ctx.repo
        kinds = gr.CheckboxGroup(
            list(EXPORT_KINDS), value=["clips", "annotations"], label="What", elem_id="es-export-kinds"
        )
        with gr.Row():
            media = gr.Dropdown(media_choices(repo), multiselect=True, label="Media (none = all)")
            version = gr.Dropdown(
                [""] + [v.id for v in repo.list_model_versions()], value="", label="Model version (blank = active)"
            )
            annotator = gr.Dropdown([""], value="", allow_custom_value=True, label="Annotator (blank = all)")
            source = gr.Dropdown(SOURCES, value="", label="Annotation source (blank = all)")
        with gr.Row():
            refresh = gr.Button("Refresh choices", size="sm")
            go = gr.Button("Export CSV", variant="primary", elem_id="es-export-go")
        # Links to the studio's own export route: only the person who exported can download.
        files = gr.HTML(elem_id="es-export-files")
        note = gr.Markdown(elem_id="es-export-note")

        self.choice_outputs = [media, version, annotator]

        @guarded
        def export(kinds_, media_, version_, annotator_, source_, request: gr.Request):
            user = ctx.user(request, "export")
            if not kinds_:
                return "", "Tick at least one thing to export."
            token, folder = ctx.exports.new_folder(user.name)
            written = export_files(
                repo,
                folder,
                kinds_,
                media_ids=media_ or None,
                model_version=version_ or None,
                annotator=annotator_ or None,
                source=source_ or None,
            )
            counts = ", ".join(f"{k}: {n} rows" for k, (_, n) in zip(kinds_, written))
            links = "".join(
                f"<li><a href='exports/{token}/{escape(p.name)}' download='{escape(p.name)}'>"
                f"{escape(p.name)}</a> ({n} rows)</li>"
                for p, n in written
            )
            return f"<ul class='es-downloads'>{links}</ul>", counts

        refresh.click(self.choices, outputs=self.choice_outputs)
        go.click(export, inputs=[kinds, media, version, annotator, source], outputs=[files, note])
