"""The studio's Gradio Blocks: five pages, each a thin layer over domain services."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from db.repository import Repository
from emostudio.config import Settings, get_settings
from emostudio.ui.clip_page import ClipWorkspace
from emostudio.ui.context import StudioContext
from emostudio.ui.export_page import ExportPage
from emostudio.ui.library_page import LibraryPage
from emostudio.ui.train_page import TrainPage

ASSETS = Path(__file__).parent
HEAD = f"<script>{(ASSETS / 'studio.js').read_text()}</script>"
CSS = (ASSETS / "studio.css").read_text()


def build_app(repo: Repository, settings: Settings | None = None) -> gr.Blocks:
    ctx = StudioContext(repo, settings or get_settings())
    with gr.Blocks(title="emostudio") as app:
        gr.Markdown("# emostudio\nMultimodal emotion analysis and annotation.")
        with gr.Tabs(elem_id="es-tabs") as tabs:
            with gr.Tab("Library", id="library"):
                library = LibraryPage(ctx)
            with gr.Tab("Inspect", id="inspect") as inspect_tab:
                inspect = ClipWorkspace(ctx, "inspect", annotate=False)
            with gr.Tab("Annotate", id="annotate") as annotate_tab:
                annotate = ClipWorkspace(ctx, "annotate", annotate=True)
            with gr.Tab("Train", id="train"):
                TrainPage(ctx)
            with gr.Tab("Export", id="export") as export_tab:
                export = ExportPage(ctx)

        # pickers list what the library holds when their page is opened
        inspect_tab.select(inspect.refresh_choices, outputs=inspect.picker)
        annotate_tab.select(annotate.refresh_choices, outputs=annotate.picker)
        export_tab.select(export.choices, outputs=export.choice_outputs)

        def open_from_library(evt: gr.SelectData):
            media_id = evt.row_value[-1]  # the id column
            return {**inspect.open(media_id), tabs: gr.Tabs(selected="inspect")}

        library.table.select(open_from_library, outputs=[*inspect.outputs, tabs])
    return app
