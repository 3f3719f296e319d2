"""Model versions: the one place that names them, registers them, finds the active one
and loads it for analysis; and how the Train page shows and switches them.

A version's id is its registry row's id, whatever made it: a trainer names the versions
it registers; a model folder given on the command line, and the shipped default, are
registered under ``<folder name>-<first 10 hex of the weights' SHA-256>`` (same bytes,
same id). Analysis never registers anything on its own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from emostudio.core.domain import EMOTION_MODEL, Job, ModelVersion
from emostudio.core.errors import StudioError
from emostudio.db.repository import Repository
from emostudio.model.network import WEIGHTS_FILE, default_model_path, load_model
from emostudio.services.library import queue_analysis

VERSION_COLUMNS = ("id", "active", "created", "parent", "job", "metrics")


def _metrics_summary(metrics: dict) -> str:
    held = metrics.get("heldout")
    if held:  # a version a studio job trained: how it did beside its parent
        new, old = held.get("model", {}).get("uar"), held.get("parent", {}).get("uar")
        if new is not None and old is not None:
            return f"held-out UAR {new:.3f} (parent {old:.3f}) on {held.get('spans', 0)} spans"
    flat = []
    for k, v in sorted(metrics.items()):
        if isinstance(v, float):
            flat.append(f"{k}={v:.3f}")
        elif isinstance(v, (int, str)):
            flat.append(f"{k}={v}")
        elif isinstance(v, dict):
            flat.extend(f"{k}.{kk}={vv:.3f}" for kk, vv in sorted(v.items()) if isinstance(vv, float))
    return ", ".join(flat)


def version_rows(repo: Repository) -> list[tuple]:
    return [
        (
            v.id,
            "yes" if v.active else "",
            f"{v.created_at:%Y-%m-%d %H:%M}" if v.created_at else "",
            v.parent_id or "",
            v.job_id or "",
            _metrics_summary(v.metrics),
        )
        for v in reversed(repo.list_model_versions())
    ]


def folder_version_id(folder: str | Path) -> str:
    """The id a model folder is registered under: its name and the hash of its weights."""
    folder = Path(folder)
    digest = hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()[:10]
    return f"{folder.name}-{digest}"


def register_folder(
    repo,
    folder: str | Path,
    *,
    version_id: str | None = None,
    active: bool = False,
    parent_id: str | None = None,
    job_id: int | None = None,
    metrics: dict | None = None,
) -> ModelVersion:
    """Register the model in ``folder`` (idempotent on the id), with the label space and
    metrics its config holds; ``active`` makes it the version analysis uses."""
    folder = Path(folder).resolve()
    config = load_model(folder).config
    version = ModelVersion(
        version_id or folder_version_id(folder),
        EMOTION_MODEL,
        str(folder),
        label_space=config.labels.to_json(),
        metrics=metrics or config.metrics,
        parent_id=parent_id,
        job_id=job_id,
        active=active,
    )
    return repo.add_model_version(version)


def active_version(repo: Repository) -> ModelVersion:
    """The version analysis uses. The first time there is none, the shipped default is
    registered and made active, once, explicitly."""
    active = repo.active_model_version()
    if active is None:
        active = register_folder(repo, default_model_path(), active=True)
    return active


def load_analyzer(repo: Repository, model_dir: Path | None = None, **options):
    """An ``Analyzer`` for ``model_dir`` (registered first, not made active), else for the
    active version, under its registry id."""
    from emostudio.services.analysis import Analyzer

    version = register_folder(repo, model_dir) if model_dir is not None else active_version(repo)
    if not version.path or not (Path(version.path) / WEIGHTS_FILE).is_file():
        raise StudioError(f"model version {version.id}: its weights are missing from its folder")
    return Analyzer.load(version.path, version.id, **options)


def activate(repo: Repository, version_id: str, requested_by: str | None = None) -> tuple[ModelVersion, Job | None]:
    """Make a version the active one and queue re-analysis of the media it has not analysed."""
    version = repo.get_model_version(version_id)
    if version is None:
        raise KeyError(f"no model version {version_id!r}")
    if not version.path or not (Path(version.path) / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"model version {version_id}: its weights are missing from its folder")
    version = repo.activate_model_version(version_id)
    return version, queue_analysis(repo, requested_by=requested_by)


def previous_version(repo: Repository) -> ModelVersion | None:
    """What rolling back goes to: the active version's parent, else the version registered before it."""
    versions = repo.list_model_versions()
    active = next((v for v in versions if v.active), None)
    if active is None:
        return None
    if active.parent_id:
        return repo.get_model_version(active.parent_id)
    earlier = [v for v in versions if v.created_at and active.created_at and v.created_at < active.created_at]
    return earlier[-1] if earlier else None
