"""The Export page: the same CSVs as `emostudio export`, filtered the same way, and files
for other annotation tools: ELAN and Praat (one per media, as `emostudio export-tiers`)
and Label Studio tasks (as `emostudio export --label-studio`)."""

from __future__ import annotations

from html import escape
from pathlib import Path

import gradio as gr

from emostudio.core.errors import StudioError
from emostudio.services.export import EXPORT_KINDS, export_files
from emostudio.services.inspect import media_choices
from emostudio.services.labelstudio import write_label_studio
from emostudio.services.tierfiles import export_tier_file, file_slug
from emostudio.ui.context import StudioContext, guarded

SOURCES = ["", "human", "import", "pseudo"]
ELAN, PRAAT, LABEL_STUDIO = "ELAN (.eaf)", "Praat (.TextGrid)", "Label Studio (tasks JSON)"
TIER_SUFFIXES = {ELAN: ".eaf", PRAAT: ".TextGrid"}


def download_links(token: str, files: list[tuple[Path, str]]) -> str:
    """Links to the studio's own export route: only the person who exported can download."""
    links = "".join(
        f"<li><a href='exports/{token}/{escape(p.name)}' download='{escape(p.name)}'>{escape(p.name)}</a>"
        f" ({escape(what)})</li>"
        for p, what in files
    )
    return f"<ul class='es-downloads'>{links}</ul>"


def tool_files(repo, folder: Path, tool: str, media_ids: list[str], version: str | None) -> tuple[list, list[str]]:
    """Write the files for another tool into ``folder``: (path, what) of each file written,
    and one line for each media that could not be written (the others go on)."""
    if tool == LABEL_STUDIO:
        tasks = folder / "label-studio-tasks.json"
        config, n = write_label_studio(repo, tasks, version)
        return [(tasks, f"{n} tasks"), (config, "labelling interface")], []
    written, failed = [], []
    for media_id in media_ids:
        media = repo.get_media(media_id)
        stem = file_slug(Path(media.name).stem if media else media_id) or "media"
        path = folder / f"{stem}{TIER_SUFFIXES[tool]}"
        if path.exists():  # two media named alike
            path = path.with_name(f"{stem}-{media_id}{TIER_SUFFIXES[tool]}")
        try:
            paths = export_tier_file(repo, media_id, path, version)
        except StudioError as err:
            failed.append(f"{media.name if media else media_id}: {err}")
            continue
        written += [(paths[0], "tiers")] + [(p, "time series") for p in paths[1:]]
    return written, failed


class ExportPage:
    def choices(self):
        repo = self.repo
        annotators = sorted({a.annotator for a in repo.annotations()})
        media = media_choices(repo)  # for both media pickers
        return (
            gr.Dropdown(choices=media),
            gr.Dropdown(choices=[""] + [v.id for v in repo.list_model_versions()]),
            gr.Dropdown(choices=[""] + annotators),
            gr.Dropdown(choices=media),
        )

    def __init__(self, ctx: StudioContext):
        self.repo = repo = ctx.repo
        choices = media_choices(repo)  # for both media pickers
        kinds = gr.CheckboxGroup(
            list(EXPORT_KINDS), value=["clips", "annotations"], label="What", elem_id="es-export-kinds"
        )
        with gr.Row():
            media = gr.Dropdown(choices, multiselect=True, label="Media (none = all)")
            version = gr.Dropdown(
                [""] + [v.id for v in repo.list_model_versions()], value="", label="Model version (blank = active)"
            )
            annotator = gr.Dropdown([""], value="", allow_custom_value=True, label="Annotator (blank = all)")
            source = gr.Dropdown(SOURCES, value="", label="Annotation source (blank = all)")
        with gr.Row():
            refresh = gr.Button("Refresh choices", size="sm")
            go = gr.Button("Export CSV", variant="primary", elem_id="es-export-go")
        files = gr.HTML(elem_id="es-export-files")
        note = gr.Markdown(elem_id="es-export-note")

        gr.Markdown("#### For another annotation tool")
        with gr.Row():
            tool = gr.Radio([ELAN, PRAAT, LABEL_STUDIO], value=ELAN, label="Format", elem_id="es-export-tool", scale=2)
            tool_media = gr.Dropdown(
                choices,
                multiselect=True,
                label="Media (ELAN and Praat: one file each; Label Studio: the whole library)",
                elem_id="es-export-tool-media",
                scale=3,
            )
            tool_go = gr.Button("Export for the tool", elem_id="es-export-tool-go", scale=1)
        tool_files_shown = gr.HTML(elem_id="es-export-tool-files")
        tool_note = gr.Markdown(elem_id="es-export-tool-note")

        self.choice_outputs = [media, version, annotator, tool_media]

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
            return download_links(token, [(p, f"{n} rows") for p, n in written]), counts

        @guarded
        def export_for_tool(tool_, media_, version_, request: gr.Request):
            user = ctx.user(request, "export")
            if tool_ != LABEL_STUDIO and not media_:
                return "", f"Choose the media to export for {tool_.split(' (')[0]}."
            token, folder = ctx.exports.new_folder(user.name)
            written, failed = tool_files(repo, folder, tool_, media_ or [], version_ or None)
            note = "\n".join(f"- **Not written:** {escape(line)}" for line in failed)
            return (download_links(token, written) if written else ""), note

        refresh.click(self.choices, outputs=self.choice_outputs)
        go.click(export, inputs=[kinds, media, version, annotator, source], outputs=[files, note])
        tool_go.click(export_for_tool, inputs=[tool, tool_media, version], outputs=[tool_files_shown, tool_note])
