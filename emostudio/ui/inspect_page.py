"""The Inspect page: a clip's curves, the selected segment's and the whole clip's
emotions per modality (with a bar of what each modality contributed to the segment),
its caption and face thumbnails."""

from __future__ import annotations

import gradio as gr

from emostudio.services.inspect import ClipView, caption_lines
from emostudio.ui.clip_panel import ClipPanel, emotions_table, thumbnails_html
from emostudio.ui.context import plain
from emostudio.ui.figure import contributions_figure

CLIP_TABLE = "Whole clip: fused score, and each modality alone"


class InspectPanel(ClipPanel):
    page = "inspect"

    def side(self) -> None:
        self.unit_table()

    def below(self) -> None:
        with gr.Column(scale=3):
            self.clip_table = gr.HTML(emotions_table(None, CLIP_TABLE), elem_id="es-inspect-clip")
        with gr.Column(scale=2):  # for the selected segment
            self.contributions = gr.HTML(elem_id="es-inspect-contributions")  # drawn by studio.js
        with gr.Column(scale=2):
            self.caption = gr.Markdown(elem_id="es-inspect-caption")
            self.thumbnails = gr.HTML(label="Face", elem_id="es-inspect-faces")

    @property
    def page_outputs(self) -> list:
        return [self.clip_table, self.caption, self.thumbnails, self.contributions]

    def selected(self, view: ClipView, index: int | None) -> dict:
        return {self.contributions: self.ctx.figures.html(contributions_figure(view.units[index]), secondary=True)}

    def opened(self, view: ClipView) -> dict:
        return {self.clip_table: emotions_table(view.clip, CLIP_TABLE), self.thumbnails: thumbnails_html(view)}

    def windowed(self, view: ClipView) -> dict:
        """The captions follow the window of a long media."""
        lines = [
            f"- *{span}* ({'by ' + plain(c.annotator) if c.source == 'human' else 'generated'}): {plain(c.text)}"
            for span, c in caption_lines(view)
        ]
        caption = "**Captions**\n\n" + "\n".join(lines) if lines else "**Captions:** none yet for this clip."
        return {**super().windowed(view), self.caption: caption}
