"""A small JSON API beside the pages, for scripts and other tools: list media and their
segment predictions, read and add annotations. Same rules as the pages: with users,
a signed-in session (``POST /login`` with name and password, as the sign-in page does)
and the annotator role to write; errors are ``{"error": "<one sentence>"}``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from emostudio.core.domain import User
from emostudio.core.errors import PermissionDenied, StudioError
from emostudio.core.labels import UnknownLabelError, label_choices
from emostudio.db.session import StorageError
from emostudio.services.annotate import save_correction
from emostudio.services.inspect import active_labels
from emostudio.services.users import require


class NewAnnotation(BaseModel):
    media_id: str = Field(max_length=64)
    start: float
    end: float
    label: str | None = Field(default=None, max_length=64)
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None
    corrects_prediction_id: int | None = None
    annotator: str | None = Field(default=None, max_length=64)
    """Only without users (the signed-in user is the annotator otherwise)."""


def _annotation_json(a) -> dict:
    return {
        "id": a.id,
        "media_id": a.media_id,
        "source": a.source,
        "annotator": a.annotator,
        "label": a.label,
        "start": a.start,
        "end": a.end,
        "arousal": a.arousal,
        "valence": a.valence,
        "dominance": a.dominance,
        "corrects_prediction_id": a.corrects_prediction_id,
        "model_version": a.model_version_id,
        "created_at": a.created_at.isoformat() if a.created_at else None,
    }


def api_router(ctx, signed_in: Callable[[Request], User]) -> APIRouter:
    router = APIRouter()
    repo = ctx.repo

    def allowed(request: Request, action: str) -> User:
        try:
            return require(signed_in(request), action)
        except PermissionDenied as err:
            raise HTTPException(403, str(err)) from None

    @router.get("/whoami")
    def whoami(request: Request) -> dict:
        user = signed_in(request)
        return {"name": user.name, "role": user.role, "sign_in": ctx.sign_in}

    @router.get("/media")
    def media(request: Request) -> list[dict]:
        allowed(request, "view")
        return [
            {
                "id": s.media.id,
                "name": s.media.name,
                "duration": s.media.duration,
                "status": s.media.status,
                "modality": s.media.info.modality,
            }
            for s in repo.list_media()
        ]

    @router.get("/media/{media_id}/segments")
    def segments(media_id: str, request: Request) -> list[dict]:
        allowed(request, "view")
        active = repo.active_model_version()
        preds = repo.predictions(media_id, model_version_id=active.id, level="segment") if active else []
        return [
            {
                "prediction_id": p.id,
                "start": p.start,
                "end": p.end,
                "top_emotion": p.top_label,
                "model_version": p.model_version_id,
            }
            for p in preds
        ]

    @router.get("/annotations")
    def annotations(
        request: Request, media_id: str | None = None, annotator: str | None = None, source: str | None = None
    ) -> list[dict]:
        allowed(request, "view")
        return [_annotation_json(a) for a in repo.annotations(media_id, source=source, annotator=annotator)]

    @router.post("/annotations", status_code=201)
    def add_annotation(body: NewAnnotation, request: Request) -> dict:
        user = allowed(request, "annotate")
        annotator = user.name if ctx.sign_in else (body.annotator or "")
        media = repo.get_media(body.media_id)
        if media is None:
            raise HTTPException(404, f"no media {body.media_id}")
        corrects = repo.get_prediction(body.corrects_prediction_id) if body.corrects_prediction_id else None
        if body.corrects_prediction_id and (corrects is None or corrects.media_id != media.id):
            raise HTTPException(400, f"prediction {body.corrects_prediction_id} is not one of this media's")
        try:
            saved = save_correction(
                repo,
                media,
                annotator,
                body.start,
                body.end,
                body.label,
                {"arousal": body.arousal, "valence": body.valence, "dominance": body.dominance},
                corrects=corrects,
                label_set=label_choices(ctx.settings.label_set, active_labels(repo)),
            )
        except (StudioError, UnknownLabelError) as err:
            status = 503 if isinstance(err, StorageError) else 400
            raise HTTPException(status, str(err)) from None
        return _annotation_json(saved)

    return router


def install_error_handlers(app) -> None:
    """Malformed request bodies get one sentence, like every other error."""
    from fastapi.responses import JSONResponse

    @app.exception_handler(RequestValidationError)
    async def bad_body(_request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return JSONResponse({"error": "the request body is not valid JSON"}, status_code=400)
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse({"error": f"{where or 'request'}: {first.get('msg', 'invalid')}"}, status_code=400)
