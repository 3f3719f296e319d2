"""Errors meant for people: ``str(err)`` is one plain sentence (no traceback, no SQL, no
server path a visitor should not see). Command line and web pages show them as they are;
anything else is logged on the server and shown as a generic message."""

from __future__ import annotations


class StudioError(Exception):
    """Something the user can understand and act on."""


class PermissionDenied(StudioError):
    """The signed-in user's role does not allow this."""


class PathRefused(StudioError):
    """A path the studio will not read: its own database, outside the allowed import folders, ..."""


def redact(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each server path in ``replacements`` replaced by what a visitor may read
    (longest first, so a file inside a replaced folder becomes e.g. ``<data>/media/...``)."""
    for secret in sorted(replacements, key=len, reverse=True):
        if secret:
            text = text.replace(secret, replacements[secret])
    return text
