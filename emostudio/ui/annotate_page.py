"""The Annotate page, the annotator's workbench: the player and the timeline in one view
(``Timeline``: zoom, pan, follow, speed, loop, edges to drag, one lane per annotator,
continuous rating while the media plays) beside the label form (labels, a range, A/V/D,
a confidence), the queues (most uncertain, where annotators disagree), and under them
the review: this media's labels by annotator (retract one's own), the traces against
the model and each other, the library's agreement table, and the caption editor. Every
save appends; nothing anyone entered is overwritten."""

from __future__ import annotations

import logging
from dataclasses import replace

import gradio as gr

from emostudio.core.errors import StudioError
from emostudio.core.labels import LABELS, UnknownLabelError, label_choices
from emostudio.services.agreement import AGREEMENT_COLUMNS, library_agreement, library_disagreements
from emostudio.services.annotate import (
    DEFAULT_ORDER,
    QUEUE_ORDERS,
    REVIEW_COLUMNS,
    queue_length,
    retract_annotation,
    review_rows,
    save_caption,
    save_correction,
    save_transcript,
    transcript_text,
    uncertainty_queue,
)
from emostudio.services.inspect import ClipView, current_caption, unit_index_at
from emostudio.services.library import queue_analysis
from emostudio.services.traces import save_trace, trace_table
from emostudio.ui.clip_panel import ClipPanel
from emostudio.ui.context import guarded, plain
from emostudio.ui.timeline import Timeline, timeline_value

log = logging.getLogger(__name__)
KEYS_HELP = (
    "<span class='es-keys'>Keys (not while typing): <kbd>1</kbd>–<kbd>7</kbd> label · <kbd>space</kbd> play/pause · "
    "<kbd>←</kbd>/<kbd>→</kbd> segment · <kbd>Enter</kbd> save and next · <kbd>↑</kbd>/<kbd>↓</kbd> rating · "
    "<kbd>+</kbd>/<kbd>-</kbd>/<kbd>0</kbd> zoom</span>"
)
QUEUES = (*QUEUE_ORDERS, "disagreement")


def _item_key(media_id: str, start: float) -> str:
    """Names a queue item across calls (for skipping it)."""
    return f"{media_id}@{start:.3f}"


class AnnotatePanel(ClipPanel):
    page = "annotate"

    def header(self) -> None:  # with users, the signed-in name is the annotator and this box is hidden
        self.annotator = gr.Textbox(
            label="Annotator",
            placeholder="your name (required to save; remembered in this browser)",
            elem_id="es-annotate-annotator",
            scale=2,
            visible=not self.ctx.sign_in,
        )

    def body(self) -> None:
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=640):
                self.timeline = Timeline(elem_id="es-annotate-timeline")
            with gr.Column(scale=2, min_width=360, elem_id="es-annotate-form"):
                self.unit_title = gr.Markdown(elem_id="es-annotate-unit-title")
                self.side()

    @property
    def display(self) -> list:
        return [self.timeline]

    def shown(self, view: ClipView | None) -> dict:
        return {self.timeline: timeline_value(view, traces=view.traces if view else ())}

    def side(self) -> None:
        self.label = gr.Radio(
            list(label_choices(self.ctx.settings.label_set, LABELS)),
            label="Label (1–7 for the first seven)",
            elem_id="es-annotate-label",
        )
        with gr.Row():
            self.start = gr.Number(label="from (s)", elem_id="es-annotate-start", precision=3, min_width=80)
            self.end = gr.Number(label="to (s)", elem_id="es-annotate-end", precision=3, min_width=80)
            self.confidence = gr.Slider(
                0, 1, value=1, step=0.05, label="confidence", elem_id="es-annotate-confidence", min_width=120
            )
        with gr.Row():
            self.arousal = gr.Number(label="arousal", value=None, elem_id="es-annotate-arousal", min_width=70)
            self.valence = gr.Number(label="valence", value=None, elem_id="es-annotate-valence", min_width=70)
            self.dominance = gr.Number(label="dominance", value=None, elem_id="es-annotate-dominance", min_width=70)
        with gr.Row():
            self.prev = gr.Button("◀ previous", elem_id="es-annotate-prev", size="sm", min_width=60)
            self.next = gr.Button("next ▶", elem_id="es-annotate-next", size="sm", min_width=60)
            self.save = gr.Button("Save", elem_id="es-annotate-save", size="sm", min_width=60)
            self.save_next = gr.Button(
                "Save and next", variant="primary", elem_id="es-annotate-save-next", size="sm", min_width=60
            )
        self.status = gr.Markdown(elem_id="es-annotate-status")
        with gr.Row():
            self.queue_by = gr.Dropdown(list(QUEUES), value=DEFAULT_ORDER, label="Queue", min_width=110)
            self.queue_button = gr.Button("Next in queue", elem_id="es-annotate-queue", size="sm", min_width=60)
            self.skip = gr.Button("Skip", elem_id="es-annotate-skip", size="sm", min_width=50)
        self.queue_info = gr.Markdown(elem_id="es-annotate-queue-info")
        gr.HTML(KEYS_HELP)
        self.skipped = gr.State([])
        self.shown_item = gr.State(None)

    def below(self) -> None:
        with gr.Column():
            with gr.Row():
                self.unit_table()
                with gr.Column():
                    self.caption_box = gr.Textbox(
                        label="Caption of the selected segment (how the speaker feels and sounds)",
                        lines=2,
                        elem_id="es-annotate-caption",
                    )
                    with gr.Row():
                        self.caption_whole = gr.Checkbox(
                            label="whole clip", value=False, elem_id="es-annotate-caption-whole", min_width=80
                        )
                        self.save_caption = gr.Button("Save caption", size="sm", elem_id="es-annotate-save-caption")
                with gr.Column():
                    self.transcript_box = gr.Textbox(
                        label="Transcript (correct the text; one [start–end] line per span)",
                        lines=3,
                        elem_id="es-annotate-transcript",
                    )
                    self.save_transcript = gr.Button(
                        "Save transcript and re-analyse", size="sm", elem_id="es-annotate-save-transcript"
                    )
            self.review = gr.Dataframe(
                headers=list(REVIEW_COLUMNS),
                interactive=False,
                label="Review: this media's labels by annotator",
                elem_id="es-annotate-review",
            )
            with gr.Row():
                self.retract_id = gr.Number(
                    label="label id to retract (your own)", precision=0, elem_id="es-annotate-retract-id"
                )
                self.retract = gr.Button("Retract", size="sm", elem_id="es-annotate-retract")
            self.traces = gr.Dataframe(
                headers=list(AGREEMENT_COLUMNS),
                interactive=False,
                label="Continuous traces of this media: against the model and each other",
                elem_id="es-annotate-traces",
            )
            self.refresh_agreement = gr.Button(
                "Refresh agreement and disagreements", size="sm", elem_id="es-annotate-refresh-agreement"
            )
            with gr.Row():
                self.agreement = gr.Dataframe(
                    headers=list(AGREEMENT_COLUMNS),
                    interactive=False,
                    label="Agreement between annotators (whole library)",
                    elem_id="es-annotate-agreement",
                )
                self.disagreement = gr.Dataframe(
                    headers=["media", "from", "to", "who said what", "media id"],
                    interactive=False,
                    label="Where annotators disagree",
                    elem_id="es-annotate-disagreement",
                )

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
            self.caption_whole,
            self.transcript_box,
            self.queue_info,
            self.review,
            self.traces,
            self.agreement,
            self.disagreement,
        ]

    def reviewed(self, view: ClipView) -> dict:
        """This media's review tables, after it opens or something is saved."""
        return {self.review: review_rows(view.annotations), self.traces: trace_table(view.traces, view.chunks)}

    def library_tables(self) -> dict:
        """The library-wide tables: on opening a clip and on request (not on every save:
        they read every label in the library)."""
        return {
            self.agreement: library_agreement(self.ctx.repo),
            self.disagreement: library_disagreements(self.ctx.repo),
        }

    @staticmethod
    def caption_span(view: ClipView, index: int | None, whole: bool) -> tuple[float, float] | None:
        """The span the caption box is about: the selected segment's, or None (the whole clip)."""
        if whole or index is None or not view.units:
            return None
        unit = view.units[index]
        return unit.start, unit.duration

    def caption_text(self, view: ClipView, span: tuple[float, float] | None) -> str:
        caption = current_caption(view.captions, span, view.clip.model_version_id if view.clip else None)
        return caption.text if caption else ""

    def opened(self, view: ClipView) -> dict:
        # the library's labels, mapped onto the classes this clip's model version knows
        out = {} if view.units else {self.caption_box: self.caption_text(view, None), self.caption_whole: True}
        return {
            **out,
            self.transcript_box: transcript_text(view.transcript),
            self.label: gr.Radio(choices=list(self.choices(view)), value=None),
            **self.reviewed(view),
            **self.library_tables(),
        }

    def choices(self, view: ClipView) -> dict[str, str]:
        """The library's labels for this clip's model version; its own classes when the
        configured label set names one the version does not know (an admin activated
        another model since the studio started), so a clip always opens."""
        try:
            return label_choices(self.ctx.settings.label_set, view.labels)
        except UnknownLabelError:
            log.warning("the label set does not fit model version %s; offering its classes", view.labels)
            return label_choices({}, view.labels)

    def selected(self, view: ClipView, index: int | None) -> dict:
        unit = view.units[index]
        return {
            self.caption_box: self.caption_text(view, (unit.start, unit.duration)),
            self.caption_whole: False,
            self.timeline: timeline_value(view, (unit.start, unit.end), view.traces),
            self.start: round(unit.start, 3),
            self.end: round(unit.end, 3),
            self.label: None,
            self.arousal: None,
            self.valence: None,
            self.dominance: None,
        }

    @property
    def load_outputs(self) -> list:
        return [self.save, self.save_next, self.save_caption, self.retract, self.save_transcript]

    def load_updates(self, request: gr.Request) -> list:
        return [gr.Button(visible=self.ctx.may(request, "annotate"))] * 5

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
            self.confidence,
        ]
        self.prev.click(lambda v, i: self.step(v, i, -1), inputs=[self.view, self.index], outputs=self.outputs)
        self.next.click(lambda v, i: self.step(v, i, +1), inputs=[self.view, self.index], outputs=self.outputs)

        def saver(advance: bool):
            @guarded
            def save(view, index, annotator, label, start, end, a, v, d, confidence, request: gr.Request):
                self.ctx.user(request, "annotate")  # before anything else: a viewer learns nothing more
                avd = (a, v, d)
                return self.save_label(view, index, annotator, label, start, end, avd, confidence, request, advance)

            return save

        save, save_next = saver(False), saver(True)

        self.save.click(save, inputs=form, outputs=self.outputs)
        self.save_next.click(save_next, inputs=form, outputs=self.outputs)
        self.queue_button.click(
            guarded(self.next_in_queue),
            inputs=[self.annotator, self.queue_by, self.view, self.skipped],
            outputs=[*self.outputs, self.skipped, self.shown_item],
        )
        self.skip.click(
            guarded(self.skip_current),
            inputs=[self.annotator, self.queue_by, self.view, self.skipped, self.shown_item],
            outputs=[*self.outputs, self.skipped, self.shown_item],
        )
        self.save_caption.click(
            guarded(self.save_caption_text),
            inputs=[self.view, self.index, self.caption_whole, self.annotator, self.caption_box],
            outputs=self.outputs,
        )
        self.caption_whole.input(
            guarded(self.show_caption), inputs=[self.view, self.index, self.caption_whole], outputs=self.caption_box
        )
        self.save_transcript.click(
            guarded(self.save_transcript_text),
            inputs=[self.view, self.annotator, self.transcript_box],
            outputs=self.outputs,
        )
        self.retract.click(
            guarded(self.retract_label), inputs=[self.view, self.annotator, self.retract_id], outputs=self.outputs
        )
        self.refresh_agreement.click(guarded(self.library_tables), outputs=[self.agreement, self.disagreement])
        self.timeline.seek(guarded(self.seek), inputs=[self.view, self.index], outputs=self.outputs)
        self.timeline.span(guarded(self.set_span), inputs=[self.view], outputs=self.outputs)
        self.timeline.trace(
            guarded(self.save_trace_pass), inputs=[self.view, self.index, self.annotator], outputs=self.outputs
        )

    # -- callbacks ---------------------------------------------------------------------

    def seek(self, view: ClipView | None, index: int | None, evt: gr.EventData) -> dict:
        """A click on the timeline: the player is already there; another segment is selected,
        a click inside the selected one leaves the form (and a dragged range) as it is."""
        t = float(evt._data["t"])
        if view is None or not view.units:
            return gr.skip()
        clicked = unit_index_at(view, t)
        return gr.skip() if clicked == index else self.select(view, clicked, t)

    def set_span(self, view: ClipView | None, evt: gr.EventData) -> dict:
        """An edge dragged on the timeline: the form's range, and the timeline's selection."""
        if view is None:
            return gr.skip()
        start, end = sorted((float(evt._data["start"]), float(evt._data["end"])))
        return {
            self.start: round(start, 3),
            self.end: round(end, 3),
            self.timeline: timeline_value(view, (start, end), view.traces),
            self.status: f"Range set to {start:.2f}–{end:.2f} s: choose a label or values and save.",
        }

    def save_trace_pass(
        self, view: ClipView | None, index: int | None, annotator: str, evt: gr.EventData, request: gr.Request
    ) -> dict:
        self.ctx.user(request, "annotate")
        if view is None:
            return gr.skip()
        data = evt._data
        media = view.media if data.get("media_id") == view.media.id else self.ctx.repo.get_media(data.get("media_id"))
        if media is None:
            return {self.status: "**Trace not saved:** its media is no longer in the library."}
        try:
            trace = save_trace(
                self.ctx.repo,
                media,
                self.ctx.annotator(request, annotator),
                data.get("dimension"),
                data.get("start", 0.0),
                data.get("values") or [],
                rate=data.get("rate", 10.0),
                model_version_id=view.units[0].model_version_id if view.units else None,
            )
        except StudioError as err:
            return {self.status: f"**Trace not saved:** {err}"}
        said = f"Saved trace {trace.id}: {trace.dimension}, pass {trace.pass_number}, "
        said += f"{trace.start:.2f}–{trace.end:.2f} s, by {trace.annotator}"
        if media.id != view.media.id:  # the pass ended because another clip was opened
            return {self.status: f"{said}, on {media.name}."}
        view = replace(view, traces=[*view.traces, trace])
        unit = view.units[index] if index is not None and view.units else None
        selection = (unit.start, unit.end) if unit else None
        return {
            self.view: view,
            self.timeline: timeline_value(view, selection, view.traces),
            self.traces: trace_table(view.traces, view.chunks),
            self.status: f"{said}.",
        }

    def save_label(self, view, index, annotator, label, start, end, avd, confidence, request, advance: bool) -> dict:
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
                dict(zip(("arousal", "valence", "dominance"), avd)),
                corrects=unit if same_span else None,
                model_version_id=unit.model_version_id if unit else None,
                confidence=confidence,
                label_set=self.choices(view),
            )
        except StudioError as err:
            return {self.status: f"**Not saved:** {err}"}
        view = replace(view, corrections=[*view.corrections, saved], annotations=[*view.annotations, saved])
        what = saved.label or ", ".join(
            f"{d} {getattr(saved, d):+.2f}"
            for d in ("arousal", "valence", "dominance")
            if getattr(saved, d) is not None
        )
        out = {
            self.view: view,
            self.timeline: timeline_value(view, (saved.start, saved.end), view.traces),
            self.status: f"Saved annotation {saved.id}: **{what}** for {saved.start:.2f}–{saved.end:.2f} s "
            f"by {saved.annotator}.",
            **self.reviewed(view),
        }
        if advance and index is not None and index + 1 < len(view.units):
            out.update(self.select(view, index + 1))
        return out

    def retract_label(self, view: ClipView | None, annotator: str, annotation_id, request: gr.Request) -> dict:
        self.ctx.user(request, "annotate")
        if view is None or annotation_id is None:
            return {self.status: "Give the id of one of your labels (the review table lists them)."}
        try:
            retraction = retract_annotation(self.ctx.repo, int(annotation_id), self.ctx.annotator(request, annotator))
        except StudioError as err:
            return {self.status: f"**Not retracted:** {err}"}
        kept = [a for a in view.annotations if a.id != retraction.retracts_annotation_id]
        view = replace(view, annotations=kept, corrections=[a for a in kept if a.start is not None])
        return {
            self.view: view,
            self.timeline: timeline_value(view, None, view.traces),
            self.status: f"Label {retraction.retracts_annotation_id} retracted (kept in the exported history).",
            **self.reviewed(view),
        }

    def _queue(
        self, annotator: str, by: str, request: gr.Request, limit: int | None = None
    ) -> tuple[str, list[tuple[str, float, float, str]]]:
        """(who, [(media id, start, end, why)]) in queue order (the first ``limit``)."""
        annotator = self.ctx.annotator(request, annotator) if self.ctx.sign_in else (annotator or "").strip()
        if by == "disagreement":
            return annotator, [
                (
                    d.media_id,
                    d.start,
                    d.end,
                    "annotators differ: " + "; ".join(f"{plain(p)} {plain(s)}" for p, s in d.says.items()),
                )
                for d in library_disagreements(self.ctx.repo, rows=False)
            ]
        if not annotator:
            raise StudioError("enter your annotator name first: the queue skips what you already labelled")
        return annotator, [
            (q.media_id, q.prediction.start, q.prediction.end, f"{by} {q.score:.3f}")
            for q in uncertainty_queue(self.ctx.repo, annotator, by=by, limit=limit)
        ]

    def next_in_queue(self, annotator: str, by: str, view: ClipView | None, skipped: list, request: gr.Request):
        """The next item of the chosen queue; skipped ones come back after the rest."""
        # the skipped ones and one more: the next is among them, whatever the queue's length
        who, items = self._queue(annotator, by, request, limit=len(skipped) + 1)
        if not items:
            return {self.queue_info: "Nothing left in this queue.", self.shown_item: None}
        size = len(items) if by == "disagreement" else queue_length(self.ctx.repo, who)
        keyed = [(_item_key(m, s) in skipped, i) for i, (m, s, _, _) in enumerate(items)]
        came_back, first = min(keyed)
        media_id, start, end, why = items[first]
        key = _item_key(media_id, start)
        out = self._go(view, media_id, (start + min(end, start + 3600)) / 2)
        out[self.queue_info] = f"{size} in the queue{' (skipped earlier)' if came_back else ''}; this one: {why}."
        out[self.skipped] = [k for k in skipped if k != key]
        out[self.shown_item] = key
        return out

    def skip_current(self, annotator, by, view, skipped: list, shown: str | None, request: gr.Request):
        """Send the item the queue showed last to the back of the queue, and show the next."""
        return self.next_in_queue(annotator, by, view, [*skipped, shown] if shown else skipped, request)

    def _go(self, view: ClipView | None, media_id: str, t: float) -> dict:
        if view is None or view.media.id != media_id:
            return self.open(media_id, t=t)
        return self.select(view, unit_index_at(view, t))

    def save_transcript_text(self, view: ClipView | None, annotator: str, text: str, request: gr.Request) -> dict:
        """A corrected transcript is a new version; the media is re-analysed so its text
        features and predictions follow the corrected words."""
        user = self.ctx.user(request, "annotate")
        if view is None:
            return {self.status: "Choose a media first."}
        try:
            spans = save_transcript(
                self.ctx.repo, view.media, self.ctx.annotator(request, annotator), text, view.transcript
            )
        except StudioError as err:
            return {self.status: f"**Transcript not saved:** {err}"}
        job = queue_analysis(self.ctx.repo, [view.media.id], force=True, requested_by=user.name)
        view = replace(view, transcript=spans)
        return {
            self.view: view,
            self.timeline: timeline_value(view, None, view.traces),
            self.transcript_box: transcript_text(spans),
            self.status: f"Saved the corrected transcript ({len(spans)} spans); re-analysis queued as job {job.id}: "
            "the text predictions follow once the worker has run it.",
        }

    def show_caption(self, view: ClipView | None, index: int | None, whole: bool) -> str:
        return "" if view is None else self.caption_text(view, self.caption_span(view, index, whole))

    def save_caption_text(
        self, view: ClipView | None, index: int | None, whole: bool, annotator: str, text: str, request: gr.Request
    ) -> dict:
        self.ctx.user(request, "annotate")
        if view is None:
            return {self.status: "Choose a media first."}
        span = self.caption_span(view, index, whole)
        version = view.clip.model_version_id if view.clip else None
        try:
            saved = save_caption(
                self.ctx.repo,
                view.media,
                self.ctx.annotator(request, annotator),
                text,
                current_caption(view.captions, span, version),
                span=span,
            )
        except StudioError as err:
            return {self.status: f"**Caption not saved:** {err}"}
        view = replace(view, captions=[*view.captions, saved])
        return {self.view: view, self.status: f"Saved caption {saved.id} by {saved.annotator}."}
