"""The web server: Gradio mounted on a FastAPI app that also streams media by id.

Media are served by the studio itself (with HTTP range requests, so the player can
seek) rather than through Gradio's file route: files imported in place live anywhere
on disk, outside any folder Gradio could be told to allow at launch.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

import gradio as gr
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse

from db.repository import Repository
from emostudio.config import Settings
from emostudio.ui.app import CSS, HEAD, build_app

# What browsers expect for containers Python's table does not know.
MEDIA_TYPES = {".flac": "audio/flac", ".m4a": "audio/mp4", ".opus": "audio/ogg", ".mkv": "video/x-matroska",
               ".webm": "video/webm", ".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}  # fmt: skip


def create_server(repo: Repository, settings: Settings) -> FastAPI:
    api = FastAPI(title="emostudio")

    @api.get("/media/{media_id}")
    def media_file(media_id: str) -> FileResponse:
        media = repo.get_media(media_id)
        if media is None:
            raise HTTPException(404, f"no media {media_id}")
        path = Path(media.path)
        if not path.is_file():
            raise HTTPException(410, f"{media.name}: the file is no longer at {media.path}")
        media_type = MEDIA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type)

    blocks = build_app(repo, settings)
    return gr.mount_gradio_app(api, blocks, path="", allowed_paths=[str(settings.data_dir.resolve())],
                               head=HEAD, css=CSS)  # fmt: skip
