"""The studio's Gradio Blocks: five pages, each a thin layer over domain services."""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from emostudio.ui.annotate_page import AnnotatePanel
from emostudio.ui.context import StudioContext
from emostudio.ui.export_page import ExportPage
from emostudio.ui.inspect_page import InspectPanel
from emostudio.ui.library_page import LibraryPage
from emostudio.ui.train_page import TrainPage

ASSETS = Path(__file__).parent
PLOTLY_JS = "es-static/plotly.min.js"  # served by the studio (server.py), loaded once per page
HEAD = f"<script src='{PLOTLY_JS}'></script><script>{(ASSETS / 'studio.js').read_text()}</script>"
CSS = (ASSETS / "studio.css").read_text()


def plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def who_markdown(ctx: StudioContext, request: gr.Request) -> str:
    if not ctx.sign_in:
        return "Local studio (no users: this machine only)."
    user = ctx.user_named(request.username)
    if user is None:
        return "Not signed in."
    return f"Signed in as **{user.name}** ({user.role}) · <a href='logout'>sign out</a>"


def _polling(polled: dict, shown: gr.Tab) -> dict:
    """The refresh timers of ``polled`` pages ({tab: timer}): only the shown page's runs."""
    return {timer: gr.Timer(active=tab is shown) for tab, timer in polled.items()}


def build_app(ctx: StudioContext) -> gr.Blocks:
    with gr.Blocks(title="emostudio", analytics_enabled=False) as app:
        with gr.Row():
            gr.Markdown("### emostudio · multimodal emotion analysis and annotation", elem_id="es-title")
            who = gr.Markdown(elem_id="es-who")
        with gr.Tabs(elem_id="es-tabs") as tabs:
            with gr.Tab("Library", id="library") as library_tab:
                library = LibraryPage(ctx, library_tab)
            with gr.Tab("Inspect", id="inspect") as inspect_tab:
                inspect = InspectPanel(ctx)
            with gr.Tab("Annotate", id="annotate") as annotate_tab:
                annotate = AnnotatePanel(ctx)
            with gr.Tab("Train", id="train") as train_tab:
                train = TrainPage(ctx, train_tab)
            with gr.Tab("Export", id="export") as export_tab:
                export = ExportPage(ctx)

        # pickers list what the library holds when their page is opened
        inspect_tab.select(inspect.refresh_choices, outputs=inspect.picker)
        annotate_tab.select(annotate.refresh_choices, outputs=annotate.picker)
        export_tab.select(export.choices, outputs=export.choice_outputs)

        # the Library and Train pages refresh every 2 s only while they are shown: on
        # another page each refresh cost a server call and a redraw of its status, and
        # could land in the middle of what the person was doing there
        polled = {library_tab: library.timer, train_tab: train.timer}
        for tab in (library_tab, inspect_tab, annotate_tab, train_tab, export_tab):
            tab.select(functools.partial(_polling, polled, tab), outputs=list(polled.values()))

        def open_from_library(evt: gr.SelectData):
            media_id = evt.row_value[-1]  # the id column
            return {**inspect.open(media_id), tabs: gr.Tabs(selected="inspect"), **_polling(polled, inspect_tab)}

        library.table.select(open_from_library, outputs=[*inspect.outputs, tabs, *polled.values()])

        # what this person may do decides what they see (the callbacks check again), and the
        # active model version's label space decides the label choices
        role_views = [library, annotate, train]
        outputs = [who] + [c for page in role_views for c in page.load_outputs]

        def on_load(request: gr.Request):
            updates = [who_markdown(ctx, request)]
            for page in role_views:
                updates += page.load_updates(request)
            return updates

        app.load(on_load, outputs=outputs)
    return app
