"""What the Inspect and Annotate pages share: a clip's player, its curves on one time axis
(clicking them moves the player), the selected segment and its emotions, stepping
through segments. ``studio.js`` ties the plot and the player together (click-to-seek, a
cursor following playback) and adds the keyboard shortcuts.

``ClipPanel`` lays the shared parts out and leaves three places to each page: the side
of the player (``side``), below the figure (``below``), and what opening a clip or
selecting a segment fills in there (``opened``, ``selected``).

A callback that changes nothing returns ``gr.skip()``: Gradio takes an empty dict for one
output value, fails, and covers the page's outputs with "Error".
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import gradio as gr

from emostudio.services.inspect import (
    DEFAULT_WINDOW,
    UNIT_COLUMNS,
    WINDOWS,
    ClipView,
    chunk_at,
    fusion_shares,
    load_clip_view,
    media_choices,
    move_window,
    playback_pending,
    ranked_emotions,
    unit_index_at,
    view_is_current,
)
from emostudio.ui.context import StudioContext
from emostudio.ui.figure import curves_figure, overview_figure


def player_html(view: ClipView | None, page: str, pending: bool = False) -> str:
    """The player; ``pending``: a browser cannot play the file, and its playable copy is
    not ready (the curves still show)."""
    if view is None:
        return "<p>Choose a media above.</p>"
    media = view.media
    tag = "video" if media.info.has_video else "audio"
    note = ""
    if pending:
        suffix = escape(Path(media.path).suffix or media.info.container)
        note = (
            f"<p class='es-note' id='es-{page}-proxy-pending'><em>Browsers do not play this {suffix} file as it is: "
            "a playable copy is being made in the background; open the clip again in a moment. The curves "
            "are shown meanwhile.</em></p>"
        )
    if view.kept_corrections:
        n = view.kept_corrections
        note += (
            f"<p class='es-note' id='es-{page}-earlier-run'>{n} correction{'s were' if n != 1 else ' was'} made on "
            "an earlier analysis of this clip; that run is kept beside the current one, and the corrections "
            "show on the figure.</p>"
        )
    return (
        f"<{tag} id='es-{page}-media' src='media/{media.id}' controls preload='metadata'></{tag}>{note}"
        f"<p><b>{escape(media.name)}</b> · {media.duration:.1f} s · {media.info.modality}</p>"
    )


def thumbnails_html(view: ClipView) -> str:
    """Face thumbnails, served by the studio's checked ``/thumbnails`` route."""
    if not view.thumbnails:
        return "<p class='es-faces-empty'>No face thumbnails (audio only, or no face found).</p>"
    images = "".join(
        f"<figure><img src='thumbnails/{view.media.id}/{Path(path).name}' alt='face at {t:.1f} s'>"
        f"<figcaption>{t:.1f} s</figcaption></figure>"
        for path, t in view.thumbnails
    )
    return f"<div class='es-faces'>{images}</div>"


UNIT_TABLE = "Selected segment: fused score, and each modality alone"


def emotions_table(prediction, title: str) -> str:
    """``ranked_emotions`` as a plain table: scores to read, not to edit or sort, and a
    Gradio Dataframe took longer for the browser to draw than the page's figures."""
    head = "".join(f"<th>{c}</th>" for c in UNIT_COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{v:.3f}</td>" if isinstance(v, float) else f"<td>{escape(str(v))}</td>" for v in row)
        for row in ranked_emotions(prediction)
    )
    return (
        f"<div class='es-ranked'><table><caption>{escape(title)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


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
        dims = ", ".join(
            f"{d} {getattr(chunk, d):+.2f}"
            for d in ("arousal", "valence", "dominance")
            if getattr(chunk, d) is not None
        )
        lines.append(
            f"at {t:.2f} s (chunk {chunk.start:.2f}–{chunk.end:.2f} s): {chunk.top_label} "
            f"{chunk.basic[chunk.top_label]:.2f}; {dims}"
        )
    lines.append(f"predictions of model version `{u.model_version_id}`")
    return "  \n".join(lines)


def _seconds(width: float) -> str:
    return f"{width:g} s" if width < 60 else f"{width / 60:g} min"


class ClipPanel:
    """The parts of one clip's page that Inspect and Annotate share (see the module)."""

    page = "clip"

    def __init__(self, ctx: StudioContext):
        self.ctx = ctx
        self.window_at = None
        p = f"es-{self.page}"
        with gr.Row():
            self.picker = gr.Dropdown(choices=media_choices(ctx.repo), label="Media", elem_id=f"{p}-picker", scale=4)
            refresh = gr.Button("Refresh list", scale=1, size="sm")
            self.header()
        self.header_rows()
        self.body()
        with gr.Row():
            self.below()
        self.click = gr.Textbox(elem_id=f"{p}-click", elem_classes="es-hidden", show_label=False)
        self.span = gr.Textbox(elem_id=f"{p}-span", elem_classes="es-hidden", show_label=False)
        self.view = gr.State(None)
        self.index = gr.State(None)

        refresh.click(self.refresh_choices, outputs=self.picker)
        self.picker.input(self.choose, inputs=[self.picker, self.view], outputs=self.outputs)
        self.click.change(self.select_time, inputs=[self.view, self.click], outputs=self.outputs)
        if self.window_at is not None:  # a page with an overview of long media (Inspect)
            self.window_at.change(self.move, inputs=[self.view, self.window_at, self.width], outputs=self.outputs)
            self.width.input(self.resize, inputs=[self.view, self.width], outputs=self.outputs)
        self.wire()

    # -- what a page adds or replaces --------------------------------------------------------

    def body(self) -> None:
        """The player beside the selected segment (``side``), the figure below; for a long
        media, the overview of the whole media above the figure, which shows a window."""
        p = f"es-{self.page}"
        with gr.Row():
            with gr.Column(scale=2):
                self.player = gr.HTML(player_html(None, self.page), elem_id=f"{p}-player")
            with gr.Column(scale=3):
                self.unit_title = gr.Markdown(elem_id=f"{p}-unit-title")
                self.side()
        self.window_controls()
        # drawn by studio.js (see emostudio.ui.figure)
        self.overview = gr.HTML(elem_id=f"{p}-overview", visible=False)
        self.plot = gr.HTML(elem_id=f"{p}-plot")

    def window_controls(self) -> None:
        """How wide the full-resolution window of a long media is, and where it is (the
        hidden ``window`` box: a click on the overview, or playback leaving the window)."""
        p = f"es-{self.page}"
        self.width = gr.Radio(
            [(_seconds(w), w) for w in WINDOWS],
            value=DEFAULT_WINDOW,
            label="Window shown at full resolution",
            elem_id=f"{p}-width",
            visible=False,
        )
        self.window_at = gr.Textbox(elem_id=f"{p}-window", elem_classes="es-hidden", show_label=False)
        self.window_range = gr.Textbox(elem_id=f"{p}-window-range", elem_classes="es-hidden", show_label=False)

    @property
    def display(self) -> list:
        """The components ``shown`` fills in."""
        return [self.player, self.plot, self.overview, self.width, self.window_range]

    def shown(self, view: ClipView | None) -> dict:
        """The player and the figure of a clip (None: nothing chosen)."""
        if view is None:
            return {
                self.player: player_html(None, self.page),
                self.plot: "",
                self.overview: gr.HTML(value="", visible=False),
                self.width: gr.Radio(visible=False),
                self.window_range: "",
            }
        return {
            self.player: player_html(view, self.page, playback_pending(view.media, self.ctx.settings.cache_dir)),
            self.plot: self.ctx.figures.html(curves_figure(view)),
            **self.windowed(view),
        }

    def windowed(self, view: ClipView) -> dict:
        """The overview and the window's controls (hidden for a short media)."""
        long = view.window is not None
        return {
            self.overview: gr.HTML(value=self.ctx.figures.html(overview_figure(view)) if long else "", visible=long),
            self.width: gr.Radio(visible=long),
            self.window_range: "{:.3f},{:.3f}".format(*view.window) if long else "",
        }

    def header(self) -> None:
        """Beside the media picker."""

    def header_rows(self) -> None:
        """Rows under the media picker."""

    def side(self) -> None:
        """Beside the player, under the selected segment's title."""

    def below(self) -> None:
        """Under the figure."""

    def wire(self) -> None:
        """The page's own events."""

    @property
    def page_outputs(self) -> list:
        return []

    def opened(self, view: ClipView) -> dict:
        """What the page fills in when a clip opens."""
        return {}

    def selected(self, view: ClipView, index: int | None) -> dict:
        """What the page fills in when a segment is selected."""
        return {}

    @property
    def load_outputs(self) -> list:
        return []

    def load_updates(self, request: gr.Request) -> list:
        return []

    def unit_table(self) -> None:
        self.units = gr.HTML(emotions_table(None, UNIT_TABLE), elem_id=f"es-{self.page}-unit")

    # -- shared callbacks: each loads through a service, then formats ---------------------

    @property
    def outputs(self) -> list:
        return [
            self.view,
            self.index,
            self.picker,
            *self.display,
            self.unit_title,
            self.units,
            self.span,
            *self.page_outputs,
        ]

    def refresh_choices(self):
        return gr.Dropdown(choices=media_choices(self.ctx.repo))

    def choose(self, media_id: str | None, view: ClipView | None) -> dict:
        """The picker's choice. Choosing the media already open keeps the page as it is
        (the window, the selected segment) unless its analysis changed since. Gradio's
        dropdown sends its input event twice per click and again when it loses focus, so
        without this every choice opened the media twice and a click beside the picker
        sent the person back to the start of the media."""
        if view is not None and view.media.id == media_id and view_is_current(self.ctx.repo, view):
            return gr.skip()
        return self.load(media_id)

    def open(self, media_id: str | None, t: float | None = None) -> dict:
        """Open a media from elsewhere (the library, the queue): the picker shows it too."""
        out = self.load(media_id, t)
        if media_id:
            out[self.picker] = gr.Dropdown(value=media_id, choices=media_choices(self.ctx.repo, include=media_id))
        return out

    def load(self, media_id: str | None, t: float | None = None) -> dict:
        """The media's page, the picker left as it is (the person chose it there: re-sending
        up to 500 choices made the browser copy them on every status change of the open)."""
        if not media_id:
            return {self.view: None, **self.shown(None)}
        view = load_clip_view(
            self.ctx.repo,
            media_id,
            cache=self.ctx.feature_cache,
            thumbnails_root=self.ctx.thumbnails_root,
            around=t or 0.0,
        )
        out = {self.view: view, **self.shown(view)}
        index = unit_index_at(view, t or 0.0) if view.units else None
        out.update(self.select(view, index))
        out.update(self.opened(view))
        return out

    def select(self, view: ClipView | None, index: int | None, t: float | None = None) -> dict:
        if view is None:
            return gr.skip()
        out = {}
        if index is not None and view.window is not None:  # a long media: the window follows the selection
            unit = view.units[index]
            start, end = view.window
            if unit.start < start or min(unit.end, t if t is not None else unit.end) > end:
                view = self._moved(view, unit.start if t is None else t, end - start)
                out.update(self.shown(view))
        out.update({self.view: view, self.index: index, self.unit_title: unit_title(view, index, t)})
        if index is None:
            return {**out, self.units: emotions_table(None, UNIT_TABLE), self.span: ""}
        unit = view.units[index]
        out.update({self.units: emotions_table(unit, UNIT_TABLE), self.span: f"{unit.start:.3f},{unit.end:.3f}"})
        out.update(self.selected(view, index))
        return out

    def _moved(self, view: ClipView, around: float, width: float) -> ClipView:
        return move_window(self.ctx.repo, view, around, width, self.ctx.feature_cache)

    def move(self, view: ClipView | None, at: str, width: float | None) -> dict:
        """Show the window around a time (a click on the overview, or playback leaving it)."""
        if view is None or view.window is None or not at:
            return gr.skip()
        view = self._moved(view, float(at.split("@")[0]), float(width or DEFAULT_WINDOW))
        moved = self.windowed(view)
        moved.pop(self.overview)  # unchanged: only its shaded window moves, in the browser
        return {self.view: view, self.plot: self.ctx.figures.html(curves_figure(view)), **moved}

    def resize(self, view: ClipView | None, width: float | None) -> dict:
        if view is None or view.window is None:
            return gr.skip()
        return self.move(view, str(sum(view.window) / 2), width)

    def select_time(self, view: ClipView | None, click: str) -> dict:
        if view is None or not click:
            return gr.skip()
        t = float(click.split("@")[0])
        return self.select(view, unit_index_at(view, t), t)

    def step(self, view: ClipView | None, index: int | None, delta: int) -> dict:
        if view is None or not view.units:
            return gr.skip()
        moved = 0 if index is None else min(max(index + delta, 0), len(view.units) - 1)
        if moved == index:  # already at the first / last: leave the form as the person left it
            return gr.skip()
        return self.select(view, moved)
