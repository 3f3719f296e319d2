"""The Annotate page: the clip view with a correction form (labels, a range, A/V/D),
keyboard shortcuts, the queue of what the model is least sure about, and the caption
editor. Every save appends; nothing anyone entered is overwritten."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr

from emostudio.core.errors import StudioError
from emostudio.core.labels import LABELS
from emostudio.services.annotate import DEFAULT_ORDER, QUEUE_ORDERS, save_caption, save_correction, uncertainty_queue
from emostudio.services.inspect import ClipView, current_caption, unit_index_at
from emostudio.ui.clip_panel import ClipPanel
from emostudio.ui.context import guarded
from emostudio.ui.figure import curves_figure

KEYS_HELP = (
    "<span class='es-keys'>Keys: <kbd>1</kbd>–<kbd>7</kbd> basic label · <kbd>space</kbd> play/pause · "
    "<kbd>←</kbd>/<kbd>→</kbd> previous/next segment · <kbd>Enter</kbd> save and next</span>"
)


class AnnotatePanel(ClipPanel):
    page = "annotate"

    def header(self) -> None:  # with users, the signed-in name is the annotator and this box is hidden
        self.annotator = gr.Textbox(
            label="Annotator (required to save)",
            placeholder="your name",
            elem_id="es-annotate-annotator",
            scale=2,
            visible=not self.ctx.sign_in,
        )

    def header_rows(self) -> None:
        with gr.Row():
            self.queue_by = gr.Radio(list(QUEUE_ORDERS), value=DEFAULT_ORDER, label="Uncertainty", scale=2)
            self.queue_button = gr.Button("Next most uncertain", elem_id="es-annotate-queue", scale=1)
            self.queue_info = gr.Markdown(elem_id="es-annotate-queue-info")

    def side(self) -> None:
        gr.HTML(KEYS_HELP)
        self.label = gr.Radio(list(LABELS.labels), label="Label (basic 1–7, or compound)", elem_id="es-annotate-label")
        with gr.Row():
            self.start = gr.Number(label="from (s)", elem_id="es-annotate-start", precision=3)
            self.end = gr.Number(label="to (s)", elem_id="es-annotate-end", precision=3)
        with gr.Row():
            self.arousal = gr.Number(label="arousal (-1..1)", value=None, elem_id="es-annotate-arousal")
            self.valence = gr.Number(label="valence (-1..1)", value=None, elem_id="es-annotate-valence")
            self.dominance = gr.Number(label="dominance (-1..1)", value=None, elem_id="es-annotate-dominance")
        with gr.Row():
            self.prev = gr.Button("◀ previous", elem_id="es-annotate-prev", size="sm")
            self.next = gr.Button("next ▶", elem_id="es-annotate-next", size="sm")
            self.save = gr.Button("Save", elem_id="es-annotate-save", size="sm")
            self.save_next = gr.Button("Save and next", variant="primary", elem_id="es-annotate-save-next", size="sm")
        self.status = gr.Markdown(elem_id="es-annotate-status")

    def below(self) -> None:
        self.unit_table()
        with gr.Column():
            self.caption_box = gr.Textbox(
                label="Caption (how the speaker feels and sounds)", lines=2, elem_id="es-annotate-caption"
            )
            self.save_caption = gr.Button("Save caption", size="sm", elem_id="es-annotate-save-caption")

    @property
    def page_outputs(self) -> list:
        return [
            self.label,
            self.start,
            self.end,
            self.arousal,
            self.valence,
            self.dominance,
            self.status,
            self.caption_box,
            self.queue_info,
        ]

    def opened(self, view: ClipView) -> dict:
        caption = current_caption(view.captions)
        # the labels this clip's model version knows
        return {
            self.caption_box: caption.text if caption else "",
            self.label: gr.Radio(choices=list(view.labels.labels), value=None),
        }

    def selected(self, view: ClipView, index: int | None) -> dict:
        unit = view.units[index]
        return {
            self.start: round(unit.start, 3),
            self.end: round(unit.end, 3),
            self.label: None,
            self.arousal: None,
            self.valence: None,
            self.dominance: None,
        }

    @property
    def load_outputs(self) -> list:
        return [self.save, self.save_next, self.save_caption]

    def load_updates(self, request: gr.Request) -> list:
        return [gr.Button(visible=self.ctx.may(request, "annotate"))] * 3

    def wire(self) -> None:
        form = [
            self.view,
            self.index,
            self.annotator,
            self.label,
            self.start,
            self.end,
            self.arousal,
            self.valence,
            self.dominance,
        ]
        self.prev.click(lambda v, i: self.step(v, i, -1), inputs=[self.view, self.index], outputs=self.outputs)
        self.next.click(lambda v, i: self.step(v, i, +1), inputs=[self.view, self.index], outputs=self.outputs)

        @guarded
        def save(view, index, annotator, label, start, end, arousal, valence, dominance, request: gr.Request):
            self.ctx.user(request, "annotate")  # before anything else: a viewer learns nothing more
            return self.save_label(
                view, index, annotator, label, start, end, arousal, valence, dominance, request, advance=False
            )

        @guarded
        def save_next(view, index, annotator, label, start, end, arousal, valence, dominance, request: gr.Request):
            self.ctx.user(request, "annotate")
            return self.save_label(
                view, index, annotator, label, start, end, arousal, valence, dominance, request, advance=True
            )

        self.save.click(save, inputs=form, outputs=self.outputs)
        self.save_next.click(save_next, inputs=form, outputs=self.outputs)
        self.queue_button.click(
            guarded(self.next_uncertain), inputs=[self.annotator, self.queue_by, self.view], outputs=self.outputs
        )
        self.save_caption.click(
            guarded(self.save_caption_text), inputs=[self.view, self.annotator, self.caption_box], outputs=self.outputs
        )

    def save_label(
        self, view, index, annotator, label, start, end, arousal, valence, dominance, request, advance: bool
    ) -> dict:
        """Append the correction; when it cannot be stored, the form keeps what was entered
        and the status line says why in a plain sentence."""
        if view is None:
            return {self.status: "Choose a media first."}
        unit = view.units[index] if index is not None and view.units else None
        same_span = (
            unit is not None
            and start is not None
            and end is not None
            and abs(unit.start - start) < 1e-3
            and abs(unit.end - end) < 1e-3
        )
        try:
            saved = save_correction(
                self.ctx.repo,
                view.media,
                self.ctx.annotator(request, annotator),
                start,
                end,
                label,
                {"arousal": arousal, "valence": valence, "dominance": dominance},
                corrects=unit if same_span else None,
                model_version_id=unit.model_version_id if unit else None,
            )
        except StudioError as err:
            return {self.status: f"**Not saved:** {err}"}
        view = replace(view, corrections=[*view.corrections, saved])
        what = saved.label or ", ".join(
            f"{d} {getattr(saved, d):+.2f}"
            for d in ("arousal", "valence", "dominance")
            if getattr(saved, d) is not None
        )
        out = {
            self.view: view,
            self.plot: curves_figure(view),
            self.status: f"Saved annotation {saved.id}: **{what}** for {saved.start:.2f}–{saved.end:.2f} s "
            f"by {saved.annotator}.",
        }
        if advance and index is not None and index + 1 < len(view.units):
            out.update(self.select(view, index + 1))
        return out

    def next_uncertain(self, annotator: str, by: str, view: ClipView | None, request: gr.Request) -> dict:
        annotator = self.ctx.annotator(request, annotator) if self.ctx.sign_in else (annotator or "").strip()
        if not annotator:
            return {self.status: "**Enter your annotator name first**: the queue skips what you already labelled."}
        items = uncertainty_queue(self.ctx.repo, annotator, by=by)
        if not items:
            return {self.queue_info: "Nothing left to annotate: every analysed segment has your label."}
        item = items[0]
        p = item.prediction
        if view is None or view.media.id != item.media_id:
            out = self.open(item.media_id, t=p.start + p.duration / 2)
        else:
            out = self.select(view, unit_index_at(view, p.start + p.duration / 2))
        out[self.queue_info] = f"{len(items)} segments left; this one has {by} {item.score:.3f}."
        return out

    def save_caption_text(self, view: ClipView | None, annotator: str, text: str, request: gr.Request) -> dict:
        self.ctx.user(request, "annotate")
        if view is None:
            return {self.status: "Choose a media first."}
        try:
            saved = save_caption(
                self.ctx.repo, view.media, self.ctx.annotator(request, annotator), text, current_caption(view.captions)
            )
        except StudioError as err:
            return {self.status: f"**Caption not saved:** {err}"}
        view = replace(view, captions=[*view.captions, saved])
        return {self.view: view, self.status: f"Saved caption {saved.id} by {saved.annotator}."}
