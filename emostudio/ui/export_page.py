"""The Export page: the same CSVs as `emostudio export`, filtered the same way."""

from __future__ import annotations

import gradio as gr

from emostudio.export import EXPORT_KINDS, export_files
from emostudio.inspect import media_choices
from emostudio.ui.context import StudioContext

SOURCES = ["", "human", "import", "pseudo"]


class ExportPage:
    def choices(self):
        repo = self.repo
        annotators = sorted({a.annotator for a in repo.annotations()})
        return (gr.Dropdown(choices=media_choices(repo)),
                gr.Dropdown(choices=[""] + [v.id for v in repo.list_model_versions("emotion")]),
                gr.Dropdown(choices=[""] + annotators))  # fmt: skip

    def __init__(self, ctx: StudioContext):
        self.repo = repo = ctx.repo
        kinds = gr.CheckboxGroup(list(EXPORT_KINDS), value=["clips", "annotations"], label="What", elem_id="es-export-kinds")
        with gr.Row():
            media = gr.Dropdown(media_choices(repo), multiselect=True, label="Media (none = all)")
            version = gr.Dropdown([""] + [v.id for v in repo.list_model_versions("emotion")], value="",
                                  label="Model version (blank = active)")  # fmt: skip
            annotator = gr.Dropdown([""], value="", allow_custom_value=True, label="Annotator (blank = all)")
            source = gr.Dropdown(SOURCES, value="", label="Annotation source (blank = all)")
        with gr.Row():
            refresh = gr.Button("Refresh choices", size="sm")
            go = gr.Button("Export CSV", variant="primary", elem_id="es-export-go")
        files = gr.File(label="Download", file_count="multiple", interactive=False, elem_id="es-export-files")
        note = gr.Markdown(elem_id="es-export-note")

        self.choice_outputs = [media, version, annotator]

        def export(kinds_, media_, version_, annotator_, source_):
            if not kinds_:
                return None, "Tick at least one thing to export."
            written = export_files(repo, ctx.exports_dir, kinds_, media_ids=media_ or None,
                                   model_version=version_ or None, annotator=annotator_ or None,
                                   source=source_ or None)  # fmt: skip
            counts = ", ".join(f"{k}: {n} rows" for k, (_, n) in zip(kinds_, written))
            return [str(p) for p, _ in written], counts

        refresh.click(self.choices, outputs=self.choice_outputs)
        go.click(export, inputs=[kinds, media, version, annotator, source], outputs=[files, note])
