"""Model versions as the Train page shows them, and switching between them."""

from __future__ import annotations

from pathlib import Path

from emostudio.core.domain import Job, ModelVersion
from emostudio.services.library import queue_analysis

KIND = "emotion"
VERSION_COLUMNS = ("id", "active", "created", "parent", "job", "metrics")


def _metrics_summary(metrics: dict) -> str:
    flat = []
    for k, v in sorted(metrics.items()):
        if isinstance(v, float):
            flat.append(f"{k}={v:.3f}")
        elif isinstance(v, (int, str)):
            flat.append(f"{k}={v}")
        elif isinstance(v, dict):
            flat.extend(f"{k}.{kk}={vv:.3f}" for kk, vv in sorted(v.items()) if isinstance(vv, float))
    return ", ".join(flat)


def version_rows(repo) -> list[tuple]:
    return [
        (v.id, "yes" if v.active else "", f"{v.created_at:%Y-%m-%d %H:%M}" if v.created_at else "",
         v.parent_id or "", v.job_id or "", _metrics_summary(v.metrics))  # fmt: skip
        for v in reversed(repo.list_model_versions(KIND))
    ]


def activate(repo, version_id: str, requested_by: str | None = None) -> tuple[ModelVersion, Job | None]:
    """Make a version the active one and queue re-analysis of the media it has not analysed."""
    version = repo.get_model_version(version_id)
    if version is None:
        raise KeyError(f"no model version {version_id!r}")
    if not version.path or not (Path(version.path) / "model.safetensors").is_file():
        raise FileNotFoundError(f"model version {version_id}: its weights are missing from its folder")
    version = repo.activate_model_version(version_id)
    return version, queue_analysis(repo, requested_by=requested_by)


def previous_version(repo) -> ModelVersion | None:
    """What rolling back goes to: the active version's parent, else the version registered before it."""
    versions = repo.list_model_versions(KIND)
    active = next((v for v in versions if v.active), None)
    if active is None:
        return None
    if active.parent_id:
        return repo.get_model_version(active.parent_id)
    earlier = [v for v in versions if v.created_at and active.created_at and v.created_at < active.created_at]
    return earlier[-1] if earlier else None
