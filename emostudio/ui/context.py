"""What every page's callbacks need: the repository, where the studio keeps files, who
is asking (and may they), and one way to turn errors into messages for people."""

from __future__ import annotations

import functools
import logging
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import orjson

from emostudio.core.config import Settings
from emostudio.core.domain import User
from emostudio.core.errors import PermissionDenied, StudioError
from emostudio.core.paths import PathPolicy, studio_policy
from emostudio.db.repository import Repository
from emostudio.features import FeatureCache
from emostudio.services.users import LOCAL_USER, allowed, require

log = logging.getLogger("emostudio.ui")
EXPORT_LIFETIME = 24 * 3600.0  # seconds an export stays downloadable
FIGURES_KEPT = 256  # figures waiting to be fetched: a few pages' worth per person, 40 MB at most


@dataclass
class Exports:
    """CSV exports waiting to be downloaded, each readable by the user who made it only."""

    root: Path
    owners: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_folder(self, owner: str) -> tuple[str, Path]:
        self.prune()
        token = secrets.token_urlsafe(24)
        folder = self.root / token
        folder.mkdir(parents=True)
        with self._lock:
            self.owners[token] = owner
        return token, folder

    def file(self, token: str, name: str, user: User) -> Path | None:
        """The export file if ``user`` made it, else None (the same answer for anything unknown)."""
        with self._lock:
            owner = self.owners.get(token)
        if owner is None or owner != user.name or "/" in name or name.startswith("."):
            return None
        path = self.root / token / name
        return path if path.is_file() else None

    def prune(self) -> None:
        if not self.root.is_dir():
            return
        cutoff = time.time() - EXPORT_LIFETIME
        for folder in self.root.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                with self._lock:
                    self.owners.pop(folder.name, None)


@dataclass
class Figures:
    """The clip pages' figures, fetched by ``studio.js`` from ``/figures/<token>`` and drawn
    with plotly.js. Sent through Gradio instead, a long media's 300 kB of figures were
    copied on every status change of the page, and the open took twice as long. A token
    is unguessable, and the route serves it to signed-in users only, like the media the
    figure shows; the newest ``FIGURES_KEPT`` are kept."""

    kept: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def html(self, fig: dict | None, secondary: bool = False) -> str:
        """``fig`` (a plotly.js figure, ``emostudio.ui.figure``; None for none) as the
        element studio.js draws. A ``secondary`` figure (below the page's main ones) is
        drawn after the others that arrive with it, so the main ones show sooner."""
        if fig is None:
            return ""
        token = secrets.token_urlsafe(16)
        data = orjson.dumps(fig)
        with self._lock:
            self.kept[token] = data
            while len(self.kept) > FIGURES_KEPT:
                self.kept.popitem(last=False)
        later = " data-secondary='1'" if secondary else ""
        return f"<div class='es-figure' data-src='figures/{token}'{later}></div>"

    def json(self, token: str) -> bytes | None:
        with self._lock:
            return self.kept.get(token)


@dataclass
class StudioContext:
    repo: Repository
    settings: Settings
    sign_in: bool = False
    """True when the studio has users (decided at start): every request must come from one."""
    exports: Exports | None = None
    figures: Figures = field(default_factory=Figures)

    def __post_init__(self):
        if self.exports is None:
            self.exports = Exports(self.settings.exports_dir)

    @property
    def feature_cache(self) -> FeatureCache:
        return FeatureCache(self.settings.cache_dir / "features", self.repo)

    @property
    def thumbnails_root(self) -> Path:
        return self.settings.cache_dir / "thumbnails"

    # -- who is asking --------------------------------------------------------------------

    def user_named(self, name: str | None) -> User | None:
        """The enabled user behind a session's name (None: not signed in or disabled)."""
        if not self.sign_in:
            return LOCAL_USER
        if not name:
            return None
        user = self.repo.get_user(name)
        return user if user is not None and not user.disabled else None

    def user(self, request: gr.Request | None, action: str = "view") -> User:
        """The signed-in user if allowed to do ``action``, else ``PermissionDenied``."""
        user = self.user_named(getattr(request, "username", None) if request is not None else None)
        if user is None:
            raise PermissionDenied("sign in first")
        return require(user, action)

    def may(self, request: gr.Request | None, action: str) -> bool:
        user = self.user_named(getattr(request, "username", None) if request is not None else None)
        return user is not None and allowed(user, action)

    def annotator(self, request: gr.Request | None, typed: str | None) -> str:
        """Whose annotation this is: the signed-in user; without users, the name typed in the box."""
        user = self.user(request, "annotate")
        if self.sign_in:
            return user.name
        return (typed or "").strip()

    def upload_policy(self) -> PathPolicy:
        """Uploads may read nothing but their own staging folder (set by the import)."""
        return studio_policy(self.settings)

    def import_policy(self) -> PathPolicy:
        """Server folders the Library page may import: the configured roots; without them,
        anywhere on a studio without users, nowhere on one with users."""
        roots = self.settings.import_roots
        if not roots and self.sign_in:
            raise PermissionDenied(
                "importing server folders is off: an admin lists the allowed folders in "
                "import_roots (emostudio.toml or EMOSTUDIO_IMPORT_ROOTS)"
            )
        return studio_policy(self.settings, roots or None)


MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!<>|~")


def plain(text: str) -> str:
    """Text someone typed (a name, a label), made inert inside Markdown: no link or image
    another person's browser would follow."""
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in str(text))


def guarded(fn):
    """Run a Gradio callback so that people only ever read plain sentences: a
    ``StudioError`` becomes its message, anything else is logged on the server and shown
    as a generic message (never a traceback, a server path or SQL)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StudioError as err:
            raise gr.Error(str(err), print_exception=False) from None
        except gr.Error:
            raise
        except Exception:
            incident = secrets.token_hex(4)
            log.exception("callback %s failed (incident %s)", fn.__name__, incident)
            raise gr.Error(
                f"Something went wrong on the server (incident {incident}); nothing you entered was "
                "changed. The server log has the details.",
                print_exception=False,
            ) from None

    return wrapper
