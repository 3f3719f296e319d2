"""The Inspect and Annotate pages: one clip's player, its curves on one time axis, and
the selected segment's emotions; on Annotate, the correction form and the queue.

Both pages are built by ``ClipWorkspace``; ``studio.js`` ties the plot and the player
together (click-to-seek, a cursor following playback) and adds the keyboard shortcuts.
"""

from __future__ import annotations

from dataclasses import replace
from html import escape
from pathlib import Path

import gradio as gr

from emostudio.core.errors import StudioError
from emostudio.core.labels import LABELS
from emostudio.services.annotate import save_caption, save_correction, uncertainty_queue
from emostudio.services.inspect import (
    UNIT_COLUMNS,
    ClipView,
    chunk_at,
    current_caption,
    fusion_shares,
    load_clip_view,
    media_choices,
    ranked_emotions,
    unit_index_at,
)
from emostudio.ui.context import StudioContext, guarded
from emostudio.ui.figure import curves_figure

# Containers browsers do not play; their curves still show, the player says why it is silent.
UNPLAYABLE = {".flv", ".avi", ".wmv", ".mpg", ".mpeg", ".3gp", ".ts"}
KEYS_HELP = ("<span class='es-keys'>Keys: <kbd>1</kbd>–<kbd>7</kbd> basic label · <kbd>space</kbd> play/pause · "
             "<kbd>←</kbd>/<kbd>→</kbd> previous/next segment · <kbd>Enter</kbd> save and next</span>")  # fmt: skip


def player_html(view: ClipView | None, page: str) -> str:
    if view is None:
        return "<p>Choose a media above.</p>"
    media = view.media
    tag = "video" if media.info.has_video else "audio"
    note = ""
    if Path(media.path).suffix.lower() in UNPLAYABLE:
        note = f"<p><em>{escape(Path(media.path).suffix)} files do not play in browsers; the curves are still shown.</em></p>"
    if view.kept_corrections:
        n = view.kept_corrections
        note += (f"<p class='es-note' id='es-{page}-earlier-run'>{n} correction{'s were' if n != 1 else ' was'} made on "
                 "an earlier analysis of this clip; that run is kept beside the current one, and the corrections "
                 "show on the figure.</p>")  # fmt: skip
    return (f"<{tag} id='es-{page}-media' src='media/{media.id}' controls preload='metadata'></{tag}>{note}"
            f"<p><b>{escape(media.name)}</b> · {media.duration:.1f} s · {media.info.modality}</p>")  # fmt: skip


def thumbnails_html(view: ClipView) -> str:
    """Face thumbnails, served by the studio's checked ``/thumbnails`` route."""
    if not view.thumbnails:
        return "<p class='es-faces-empty'>No face thumbnails (audio only, or no face found).</p>"
    images = "".join(f"<figure><img src='thumbnails/{view.media.id}/{Path(path).name}' alt='face at {t:.1f} s'>"
                     f"<figcaption>{t:.1f} s</figcaption></figure>" for path, t in view.thumbnails)  # fmt: skip
    return f"<div class='es-faces'>{images}</div>"


def unit_title(view: ClipView, index: int | None, t: float | None = None) -> str:
    units = view.units
    if index is None or not units:
        return "No predictions for this media yet: analysis is queued or failed (see the Library page)."
    u = units[index]
    kind = "segment" if view.segments else "clip"
    shares = fusion_shares(u)
    lines = [f"**Selected {kind} {index + 1} of {len(units)}**: {u.start:.2f}–{u.end:.2f} s, top **{u.top_label}**"]
    if shares:
        lines.append(shares)
    chunk = chunk_at(view, t) if t is not None else None
    if chunk is not None:  # what the click landed on, at the curves' own resolution
        dims = ", ".join(f"{d} {getattr(chunk, d):+.2f}" for d in ("arousal", "valence", "dominance")
                         if getattr(chunk, d) is not None)  # fmt: skip
        lines.append(f"at {t:.2f} s (chunk {chunk.start:.2f}–{chunk.end:.2f} s): {chunk.top_label} "
                     f"{chunk.basic[chunk.top_label]:.2f}; {dims}")  # fmt: skip
    return "  \n".join(lines)


class ClipWorkspace:
    def __init__(self, ctx: StudioContext, page: str, annotate: bool):
        self.ctx, self.page, self.annotate = ctx, page, annotate
        p = f"es-{page}"
        with gr.Row():
            self.picker = gr.Dropdown(choices=media_choices(ctx.repo), label="Media", elem_id=f"{p}-picker", scale=4)
            refresh = gr.Button("Refresh list", scale=1, size="sm")
            if annotate:  # with users, the signed-in name is the annotator and this box is hidden
                self.annotator = gr.Textbox(label="Annotator (required to save)", placeholder="your name",
                                            elem_id="es-annotate-annotator", scale=2, visible=not ctx.sign_in)  # fmt: skip
        if annotate:
            with gr.Row():
                self.queue_by = gr.Radio(["margin", "entropy"], value="margin", label="Uncertainty", scale=2)
                self.queue_button = gr.Button("Next most uncertain", elem_id="es-annotate-queue", scale=1)
                self.queue_info = gr.Markdown(elem_id="es-annotate-queue-info")
        with gr.Row():
            with gr.Column(scale=2):
                self.player = gr.HTML(player_html(None, page), elem_id=f"{p}-player")
            with gr.Column(scale=3):
                self.unit_title = gr.Markdown(elem_id=f"{p}-unit-title")
                if annotate:
                    self._annotation_form()
                else:
                    self._unit_table()
        self.plot = gr.Plot(show_label=False, elem_id=f"{p}-plot")
        with gr.Row():
            if annotate:
                self._unit_table()
                with gr.Column():
                    self.caption_box = gr.Textbox(label="Caption (how the speaker feels and sounds)", lines=2,
                                                  elem_id="es-annotate-caption")  # fmt: skip
                    self.save_caption = gr.Button("Save caption", size="sm", elem_id="es-annotate-save-caption")
            else:
                self.clip_table = gr.Dataframe(headers=list(UNIT_COLUMNS), interactive=False,
                                               label="Whole clip", elem_id=f"{p}-clip")  # fmt: skip
                with gr.Column():
                    self.caption = gr.Markdown(elem_id=f"{p}-caption")
                    self.thumbnails = gr.HTML(label="Face", elem_id=f"{p}-faces")
        self.click = gr.Textbox(elem_id=f"{p}-click", elem_classes="es-hidden", show_label=False)
        self.span = gr.Textbox(elem_id=f"{p}-span", elem_classes="es-hidden", show_label=False)
        self.view = gr.State(None)
        self.index = gr.State(None)

        refresh.click(self.refresh_choices, outputs=self.picker)
        self.picker.input(self.open, inputs=self.picker, outputs=self.outputs)
        self.click.change(self.select_time, inputs=[self.view, self.click], outputs=self.outputs)
        if annotate:
            self._wire_annotation()

    # -- layout of the Annotate page --------------------------------------------------

    def _annotation_form(self) -> None:
        gr.HTML(KEYS_HELP, js_on_load=None)
        self.label = gr.Radio(list(LABELS.labels), label="Label (basic 1–7, or compound)",
                              elem_id="es-annotate-label")  # fmt: skip
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

    def _unit_table(self) -> None:
        self.unit_table = gr.Dataframe(headers=list(UNIT_COLUMNS), interactive=False, elem_id=f"es-{self.page}-unit",
                                       label="Selected segment: fused score, and each modality alone")  # fmt: skip

    def _wire_annotation(self) -> None:
        form = [self.view, self.index, self.annotator, self.label, self.start, self.end,
                self.arousal, self.valence, self.dominance]  # fmt: skip
        self.prev.click(lambda v, i: self.step(v, i, -1), inputs=[self.view, self.index], outputs=self.outputs)
        self.next.click(lambda v, i: self.step(v, i, +1), inputs=[self.view, self.index], outputs=self.outputs)
        @guarded
        def save(view, index, annotator, label, start, end, arousal, valence, dominance, request: gr.Request):
            self.ctx.user(request, "annotate")  # before anything else: a viewer learns nothing more
            return self.save_label(view, index, annotator, label, start, end, arousal, valence, dominance, request,
                                   advance=False)  # fmt: skip

        @guarded
        def save_next(view, index, annotator, label, start, end, arousal, valence, dominance, request: gr.Request):
            self.ctx.user(request, "annotate")
            return self.save_label(view, index, annotator, label, start, end, arousal, valence, dominance, request,
                                   advance=True)  # fmt: skip

        self.save.click(save, inputs=form, outputs=self.outputs)
        self.save_next.click(save_next, inputs=form, outputs=self.outputs)
        self.queue_button.click(guarded(self.next_uncertain), inputs=[self.annotator, self.queue_by, self.view],
                                outputs=self.outputs)  # fmt: skip
        self.save_caption.click(guarded(self.save_caption_text), inputs=[self.view, self.annotator, self.caption_box],
                                outputs=self.outputs)  # fmt: skip

    @property
    def load_outputs(self) -> list:
        if not self.annotate:
            return []
        return [self.save, self.save_next, self.save_caption]

    def load_updates(self, request: gr.Request) -> list:
        if not self.annotate:
            return []
        may = self.ctx.may(request, "annotate")
        return [gr.Button(visible=may)] * 3

    @property
    def outputs(self) -> list:
        common = [self.view, self.index, self.picker, self.player, self.plot, self.unit_title, self.unit_table, self.span]
        if self.annotate:
            return common + [self.label, self.start, self.end, self.arousal, self.valence, self.dominance,
                             self.status, self.caption_box, self.queue_info]  # fmt: skip
        return common + [self.clip_table, self.caption, self.thumbnails]

    # -- callbacks: each loads or saves through a service, then formats --------------------

    def refresh_choices(self):
        return gr.Dropdown(choices=media_choices(self.ctx.repo))

    def open(self, media_id: str | None, t: float | None = None) -> dict:
        if not media_id:
            return {self.view: None, self.player: player_html(None, self.page), self.plot: None}
        view = load_clip_view(self.ctx.repo, media_id, cache=self.ctx.feature_cache,
                              thumbnails_root=self.ctx.thumbnails_root)  # fmt: skip
        out = {self.view: view, self.picker: gr.Dropdown(value=media_id, choices=media_choices(self.ctx.repo)),
               self.player: player_html(view, self.page), self.plot: curves_figure(view)}  # fmt: skip
        caption = current_caption(view.captions)
        if self.annotate:
            out[self.caption_box] = caption.text if caption else ""
        else:
            out[self.clip_table] = ranked_emotions(view.clip)
            out[self.caption] = (f"**Caption** ({caption.source}{', ' + caption.annotator if caption.annotator else ''}): "
                                 f"{caption.text}") if caption else "**Caption:** none yet for this clip."  # fmt: skip
            out[self.thumbnails] = thumbnails_html(view)
        index = unit_index_at(view, t or 0.0) if view.units else None
        out.update(self.select(view, index))
        if self.annotate:  # the labels this clip's model version knows
            out[self.label] = gr.Radio(choices=list(view.labels.labels), value=None)
        return out

    def select(self, view: ClipView | None, index: int | None, t: float | None = None) -> dict:
        if view is None:
            return {}
        out = {self.view: view, self.index: index, self.unit_title: unit_title(view, index, t)}
        if index is None:
            return {**out, self.unit_table: [], self.span: ""}
        unit = view.units[index]
        out.update({self.unit_table: ranked_emotions(unit), self.span: f"{unit.start:.3f},{unit.end:.3f}"})
        if self.annotate:
            out.update({self.start: round(unit.start, 3), self.end: round(unit.end, 3), self.label: None,
                        self.arousal: None, self.valence: None, self.dominance: None})  # fmt: skip
        return out

    def select_time(self, view: ClipView | None, click: str) -> dict:
        if view is None or not click:
            return {}
        t = float(click.split("@")[0])
        return self.select(view, unit_index_at(view, t), t)

    def step(self, view: ClipView | None, index: int | None, delta: int) -> dict:
        if view is None or not view.units:
            return {}
        index = 0 if index is None else min(max(index + delta, 0), len(view.units) - 1)
        return self.select(view, index)

    def save_label(self, view, index, annotator, label, start, end, arousal, valence, dominance, request,
                   advance: bool) -> dict:  # fmt: skip
        """Append the correction; when it cannot be stored, the form keeps what was entered
        and the status line says why in a plain sentence."""
        if view is None:
            return {self.status: "Choose a media first."}
        unit = view.units[index] if index is not None and view.units else None
        same_span = unit is not None and start is not None and end is not None and \
            abs(unit.start - start) < 1e-3 and abs(unit.end - end) < 1e-3  # fmt: skip
        try:
            saved = save_correction(self.ctx.repo, view.media, self.ctx.annotator(request, annotator), start, end,
                                    label, {"arousal": arousal, "valence": valence, "dominance": dominance},
                                    corrects=unit if same_span else None,
                                    model_version_id=unit.model_version_id if unit else None)  # fmt: skip
        except StudioError as err:
            return {self.status: f"**Not saved:** {err}"}
        view = replace(view, corrections=[*view.corrections, saved])
        what = saved.label or ", ".join(f"{d} {getattr(saved, d):+.2f}" for d in ("arousal", "valence", "dominance")
                                        if getattr(saved, d) is not None)  # fmt: skip
        out = {self.view: view, self.plot: curves_figure(view),
               self.status: f"Saved annotation {saved.id}: **{what}** for {saved.start:.2f}–{saved.end:.2f} s "
                            f"by {saved.annotator}."}  # fmt: skip
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
            saved = save_caption(self.ctx.repo, view.media, self.ctx.annotator(request, annotator), text,
                                 current_caption(view.captions))  # fmt: skip
        except StudioError as err:
            return {self.status: f"**Caption not saved:** {err}"}
        view = replace(view, captions=[*view.captions, saved])
        return {self.view: view, self.status: f"Saved caption {saved.id} by {saved.annotator}."}
