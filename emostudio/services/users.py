"""People who sign in, their roles, and what each role may do.

Passwords are stored only as argon2id hashes (argon2-cffi, salted). Without any user
the studio is a one-person local tool: it listens on the loopback interface only and
whoever is at the machine acts as an admin (``LOCAL_USER``).
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from emostudio.core.domain import Role, User
from emostudio.core.errors import PermissionDenied, StudioError
from emostudio.db.repository import Repository

ROLES: tuple[Role, ...] = ("viewer", "annotator", "admin")
LOCAL_USER = User(name="local", role="admin")
"""Who acts when the studio has no users (local mode)."""
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8

# What needs which role; a callback names the action, never a role, so the table is the one place.
ACTIONS: dict[str, Role] = {
    "view": "viewer",
    "export": "viewer",
    "annotate": "annotator",
    "upload": "annotator",
    "import_server_folder": "admin",
    "queue_analysis": "admin",
    "train": "admin",
    "activate_model": "admin",
    "delete_media": "admin",
    "read_job_logs": "viewer",
}
ACTION_TEXT = {
    "annotate": "saving corrections",
    "upload": "uploading media",
    "import_server_folder": "importing server folders",
    "queue_analysis": "starting analysis jobs",
    "train": "starting training",
    "activate_model": "switching model versions",
    "delete_media": "deleting media",
    "export": "exporting",
    "view": "viewing the studio",
    "read_job_logs": "reading job logs",
}

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        _hasher.hash(password)  # same work for unknown users: timing does not tell which names exist
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(repo: Repository, name: str, password: str) -> bool:
    return check_password(repo.password_hash((name or "").strip()), password or "")


def allowed(user: User, action: str) -> bool:
    return ROLES.index(user.role) >= ROLES.index(ACTIONS[action])


def require(user: User, action: str) -> User:
    """``user`` if its role allows ``action``, else a ``PermissionDenied`` saying which role is needed."""
    if not allowed(user, action):
        raise PermissionDenied(
            f"{ACTION_TEXT[action]} needs the {ACTIONS[action]} role; you are signed in as {user.name} ({user.role})"
        )
    return user


def add_user(repo: Repository, name: str, role: str, password: str) -> User:
    name = (name or "").strip()
    if not NAME.match(name):
        raise StudioError("a user name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    _check_role(role)
    _check_password(password)
    return repo.add_user(name, role, hash_password(password))


def set_password(repo: Repository, name: str, password: str) -> User:
    _check_password(password)
    return repo.update_user(name, password_hash=hash_password(password))


def set_role(repo: Repository, name: str, role: str) -> User:
    _check_role(role)
    return repo.update_user(name, role=role)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise StudioError(f"unknown role {role!r}: one of {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise StudioError(f"the password must have at least {MIN_PASSWORD} characters")


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
