"""The web server: Gradio mounted on a FastAPI app that also serves media, face
thumbnails and exports by id, and a small JSON API.

Nothing under the data folder is reachable except through these routes, each of which
checks who is asking: Gradio is never given the data folder as an allowed path (it is
on its block list instead), and the database file is never opened as a plain file.

With users, every route needs a signed-in session (Gradio's sign-in page sets it);
without users the studio only answers requests addressed to this machine by a loopback
name, so a web page elsewhere cannot reach it through DNS tricks.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import time

import gradio as gr
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount

from emostudio.core.config import Settings
from emostudio.core.domain import User
from emostudio.core.errors import StudioError
from emostudio.core.labels import UnknownLabelError, label_choices
from emostudio.core.paths import database_files, is_inside, real, same_file, sqlite_file
from emostudio.db.repository import Repository
from emostudio.features.thumbnails import thumbnail_dir
from emostudio.media.proxy import existing_proxy
from emostudio.services.inspect import active_labels
from emostudio.services.users import authenticate
from emostudio.ui.api import api_router, install_error_handlers
from emostudio.ui.app import CSS, HEAD, PLOTLY_JS, build_app, plotly_js_path
from emostudio.ui.context import StudioContext

# What browsers expect for containers Python's table does not know.
MEDIA_TYPES = {
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".opus": "audio/ogg",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
}
AUTH_MESSAGE = "Sign in to emostudio."
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
THUMBNAIL_NAME = re.compile(r"^\d+(\.\d+)?\.jpg$")
# What the sign-in page needs before anyone is signed in; everything else needs an enabled user.
SIGN_IN_PATHS = {"/", "/login", "/login/", "/logout", "/theme.css", "/favicon.ico", "/manifest.json"}
STATIC_PREFIXES = (
    "/assets/",
    "/static/",
    "/svelte/",
    "/gradio_api/static/",
    "/gradio_api/svelte/",
    "/gradio_api/assets/",
)


def _host(request: Request) -> str:
    host = request.headers.get("host", "")
    return host.rsplit(":", 1)[0] if not host.endswith("]") else host


class SignIn:
    """Gradio's sign-in check: argon2 off the event loop (it takes ~50 ms and 64 MiB), at
    most two at a time, and a name that failed 10 times in 10 minutes waits a minute."""

    MAX_FAILURES, WINDOW, PAUSE = 10, 600.0, 60.0

    def __init__(self, repo: Repository):
        self.repo = repo
        self.failures: dict[str, list[float]] = {}
        self.slots = asyncio.Semaphore(2)

    async def check(self, name: str, password: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self.failures.get(name, []) if now - t < self.WINDOW]
        if len(recent) >= self.MAX_FAILURES and now - recent[-1] < self.PAUSE:
            return False
        async with self.slots:
            ok = await run_in_threadpool(authenticate, self.repo, name, password)
        if ok:
            self.failures.pop(name, None)
        else:
            if len(self.failures) > 10_000:  # names made up by the thousand: forget the old ones
                self.failures = {k: v for k, v in self.failures.items() if now - v[-1] < self.WINDOW}
            self.failures[name] = [*recent, now][-self.MAX_FAILURES :]
        return ok


def create_server(repo: Repository, settings: Settings) -> FastAPI:
    try:  # a label set naming a class no model knows stops the start with one line, not a page error
        label_choices(settings.label_set, active_labels(repo))
    except UnknownLabelError as err:
        raise StudioError(f"label_set in the configuration: {err}") from None
    ctx = StudioContext(repo, settings, sign_in=repo.has_users())
    api = FastAPI(title="emostudio", docs_url=None, redoc_url=None, openapi_url=None)
    gradio_app = None  # set below, once Gradio is mounted: its sessions say who is signed in
    never_served = set(database_files(sqlite_file(settings.db_url)))
    data_dir, media_store = real(settings.data_dir), real(settings.media_dir)

    def session_user(request: Request) -> User | None:
        if not ctx.sign_in:
            return ctx.user_named(None)
        cookies = request.cookies
        token = cookies.get(f"access-token-{gradio_app.cookie_id}") or cookies.get(
            f"access-token-unsecure-{gradio_app.cookie_id}"
        )
        return ctx.user_named(gradio_app.tokens.get(token) if token else None)

    def signed_in(request: Request) -> User:
        user = session_user(request)
        if user is None:
            raise HTTPException(401, "sign in first")
        return user

    if not ctx.sign_in:

        @api.middleware("http")
        async def only_this_machine(request: Request, call_next):
            if _host(request) not in LOOPBACK_HOSTS:
                return PlainTextResponse("This studio has no users and only answers on 127.0.0.1.", status_code=403)
            return await call_next(request)

    else:

        @api.middleware("http")
        async def only_signed_in_users(request: Request, call_next):
            # Gradio checks sign-in on most of its routes, but not all (cancel, heartbeat,
            # run history), and a session outlives `users disable`: this checks every request.
            path = request.url.path
            if path not in SIGN_IN_PATHS and not path.startswith(STATIC_PREFIXES):
                user = await run_in_threadpool(session_user, request)
                if user is None:  # in Gradio's own words, which its page turns into the sign-in form
                    return JSONResponse(
                        {
                            "error": "sign in first",
                            "detail": {"error": "Not authenticated", "auth_message": AUTH_MESSAGE},
                        },
                        status_code=401,
                    )
            return await call_next(request)

    @api.get(f"/{PLOTLY_JS}")
    def plotly_js(request: Request) -> FileResponse:
        """plotly.js, as the plotly package ships it: studio.js draws the curves with it."""
        signed_in(request)
        return FileResponse(plotly_js_path(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @api.get("/figures/{token}")
    def figure(token: str, request: Request) -> Response:
        """A figure a clip page asked for (``context.Figures``)."""
        signed_in(request)
        data = ctx.figures.json(token)
        if data is None:
            raise HTTPException(404, "no such figure: open the media again")
        return Response(data, media_type="application/json")

    @api.get("/media/{media_id}")
    def media_file(media_id: str, request: Request) -> FileResponse:
        signed_in(request)
        media = repo.get_media(media_id)
        if media is None:
            raise HTTPException(404, "no such media")
        proxy = existing_proxy(settings.cache_dir, media)  # a browser-playable copy, named by content hash
        if proxy is not None:
            return FileResponse(proxy, media_type="video/mp4" if media.info.has_video else "audio/mp4")
        path = real(media.path)
        # only the media itself: never the database, and in the data folder only the store
        if any(same_file(path, f) for f in never_served) or (
            is_inside(path, data_dir) and not is_inside(path, media_store)
        ):
            raise HTTPException(404, "no such media")
        if not path.is_file():
            raise HTTPException(410, f"{media.name}: the file is no longer where it was imported from")
        media_type = (
            MEDIA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        return FileResponse(path, media_type=media_type)

    @api.get("/thumbnails/{media_id}/{name}")
    def thumbnail(media_id: str, name: str, request: Request) -> FileResponse:
        signed_in(request)
        media = repo.get_media(media_id)
        if media is None or not THUMBNAIL_NAME.match(name):
            raise HTTPException(404, "no such thumbnail")
        path = thumbnail_dir(ctx.thumbnails_root, media) / name
        if not path.is_file():
            raise HTTPException(404, "no such thumbnail")
        return FileResponse(path, media_type="image/jpeg")

    @api.get("/exports/{token}/{name}")
    def export_file(token: str, name: str, request: Request) -> FileResponse:
        path = ctx.exports.file(token, name, signed_in(request))
        if path is None:
            raise HTTPException(404, "no such export (exports are kept for a day, for the person who made them)")
        return FileResponse(path, media_type="text/csv", filename=name)

    @api.exception_handler(HTTPException)
    async def plain_errors(_request: Request, exc: HTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    install_error_handlers(api)
    api.include_router(api_router(ctx, signed_in), prefix="/api")

    blocks = build_app(ctx)
    sign_in = SignIn(repo)

    async def check_password(name: str, password: str) -> bool:
        # a plain coroutine function: Gradio awaits only what inspect.iscoroutinefunction
        # recognises (an object with an async __call__ would return a truthy coroutine)
        return await sign_in.check(name, password)

    gr.mount_gradio_app(
        api,
        blocks,
        path="",
        auth=check_password if ctx.sign_in else None,
        auth_message=AUTH_MESSAGE,
        blocked_paths=[str(real(settings.data_dir)), *map(str, never_served)],
        show_error=False,
        footer_links=[],
        run_history=False,
        head=HEAD,
        css=CSS,
    )
    gradio_app = next(r.app for r in api.routes if isinstance(r, Mount))
    # Gradio checks that a file a request names was uploaded through it (not any path on the
    # server, such as the database) only once it believes it was launched, which a mounted
    # app never is: without this, any signed-in visitor could make it read any file.
    blocks.has_launched = True
    api.state.context = ctx
    return api
