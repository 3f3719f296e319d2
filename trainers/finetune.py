"""Supervised fine-tuning from the studio's labels: the worker job behind the Train
page's "Fine-tune" button and ``emostudio train finetune``.

The active version (or ``parent``) is fine-tuned on people's corrections and imported
labels: the feature extractors stay as they are (frozen), the chunk model and its heads
learn. The held-out media (whole speakers when known) are fixed before training; the new
version and its parent are measured on them, and only then is the version registered,
with the media and annotations it used.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from emostudio.core.config import get_settings
from emostudio.core.domain import EMOTION_MODEL, FINETUNE_JOB, Job, ModelVersion
from emostudio.core.errors import StudioError
from emostudio.db.repository import Repository
from emostudio.features import FeatureCache, get_extractor
from emostudio.model.network import ChunkEmotionModel, load_model, save_model
from emostudio.services.versions import active_version, folder_version_id
from emostudio.trainers.labelled import (
    HUMAN_SOURCES,
    LabelledSpan,
    group_of,
    held_out_groups,
    heldout_metrics,
    media_audio_inputs,
    merged_spans,
    rated_dimensions,
    span_item,
)
from emostudio.trainers.supervised import TrainConfig, TrainItem, make_accelerator, train_audio
from emostudio.trainers.worker import JobCancelled, JobLost, register


@dataclass(frozen=True)
class FinetuneOptions:
    """What a fine-tuning job is asked to do (its job row's ``config``)."""

    sources: tuple[str, ...] = HUMAN_SOURCES
    annotator: str | None = None
    """Learn from this one person's labels only (default: everyone's, merged)."""
    epochs: int = 10
    lr: float = 5e-4
    holdout: float = 0.2
    """Share of the speakers (or media, where speakers are unknown) held out to measure the new version."""
    seed: int = 0
    parent: str | None = None
    """The version to start from (default: the active one)."""

    @classmethod
    def from_config(cls, config: dict) -> FinetuneOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise StudioError(f"unknown fine-tuning option: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        options = cls(**{**config, "sources": tuple(config.get("sources") or HUMAN_SOURCES)})
        if options.epochs < 1 or not 0 < options.lr < 1 or not 0 < options.holdout < 1:
            raise StudioError("fine-tuning needs epochs >= 1, 0 < lr < 1 and 0 < holdout < 1")
        return options

    def to_config(self) -> dict:
        return {**asdict(self), "sources": list(self.sources)}


@dataclass
class LabelledData:
    """The training and held-out items of a job, and what they came from."""

    train: list[TrainItem]
    heldout: list[TrainItem]
    heldout_rated: np.ndarray
    heldout_groups: list[str]
    media_ids: list[str]
    annotation_ids: list[int]
    skipped: list[str]


def library_data(
    repo: Repository, model: ChunkEmotionModel, spans: list[LabelledSpan], holdout: float, keep=(), hook=None
) -> LabelledData:
    """Training and held-out items for ``spans`` (the held-out side fixed by the groups'
    names, see ``held_out_groups``); a media that cannot be read is skipped and named."""
    config = model.config
    cache = FeatureCache(get_settings().cache_dir / "features", repo)
    extractors = [get_extractor(n) for n in config.audio_extractors]
    by_media: dict[str, list[LabelledSpan]] = {}
    for span in spans:
        by_media.setdefault(span.media_id, []).append(span)
    media = {m: repo.get_media(m) for m in by_media}
    groups = {m: group_of(x) for m, x in media.items() if x is not None}
    heldout = held_out_groups(groups.values(), holdout, keep)
    data = LabelledData([], [], np.zeros((0, 3), bool), sorted(heldout), [], [], [])
    rated = []
    for k, (media_id, theirs) in enumerate(sorted(by_media.items())):
        if hook:
            hook("features", completed=k, total=len(by_media))
        m = media[media_id]
        if m is None:
            data.skipped.append(f"{media_id}: no longer in the library")
            continue
        try:
            audio, chunks = media_audio_inputs(m, extractors, cache, config.grid)
        except Exception as err:  # noqa: BLE001 - one unreadable file must not stop the job
            data.skipped.append(f"{m.name}: {getattr(err, 'problem', None) or err}")
            continue
        data.media_ids.append(media_id)
        held = groups[media_id] in heldout
        for span in theirs:
            item = span_item(audio, chunks, span, config.labels, groups[media_id])
            (data.heldout if held else data.train).append(item)
            data.annotation_ids.extend(span.annotation_ids)
            if held:
                rated.append(rated_dimensions([span])[0])
    data.heldout_rated = np.array(rated, bool).reshape(-1, 3)
    return data


@register(FINETUNE_JOB)
def finetune_job(repo: Repository, job: Job, hook) -> str | None:
    """Fine-tune, measure on the held-out media, register; returns the new version's id."""
    options = FinetuneOptions.from_config(job.config)
    hook(FINETUNE_JOB, completed=0, total=None, message="reading the labels")
    parent = repo.get_model_version(options.parent) if options.parent else active_version(repo)
    if parent is None:
        raise StudioError(f"no model version {options.parent!r} to fine-tune")
    spans, ties = merged_spans(repo.annotations(), options.sources, options.annotator)
    who = f"{options.annotator}'s" if options.annotator else "everyone's"
    hook(
        FINETUNE_JOB,
        message=f"{len(spans)} labelled spans from {who} {' and '.join(options.sources)} labels"
        + (f"; {ties} left out where annotators tied" if ties else ""),
    )
    model = load_model(parent.path)
    keep = (parent.metrics.get("heldout") or {}).get("groups", [])
    accelerator = make_accelerator()
    with accelerator.main_process_first():  # the first process fills the feature cache, the others read it
        data = library_data(repo, model, spans, options.holdout, keep, hook)
    for note in data.skipped:
        hook(FINETUNE_JOB, message=f"skipped {note}")
    labelled = [it for it in data.train if it.label >= 0 or it.compound is not None or any(it.avd_known)]
    if not data.heldout or not labelled:
        raise StudioError(
            "fine-tuning needs labels on at least two media (or speakers): one side trains, "
            f"the other measures the new version; there are labels on {len(data.media_ids)}"
        )
    hook(
        FINETUNE_JOB,
        message=f"training on {len(data.train)} spans; {len(data.heldout)} spans of "
        f"{len(data.heldout_groups)} held-out speaker(s)/media measure the new version",
    )
    history: list[dict] = []

    def progress(step, *, completed=None, total=None, metrics=None, **_):
        if metrics and "epoch" in metrics:
            history.append({"step": completed, **metrics})
            uar = metrics.get("heldout_uar")
            hook(
                FINETUNE_JOB,
                completed=completed,
                total=total,
                metrics={"history": history},
                message=f"epoch {metrics['epoch']}: loss {metrics['loss']:.3f}"
                + ("" if uar is None else f", held-out UAR {uar:.3f}"),
            )
        else:
            hook(FINETUNE_JOB, completed=completed, total=total, metrics=metrics)

    def evaluate(m: ChunkEmotionModel) -> dict:
        return {"heldout_uar": heldout_metrics(m, data.heldout, full=False).get("uar")}

    train = TrainConfig(epochs=options.epochs, lr=options.lr, seed=options.seed)
    trained = train_audio(
        model.config, data.train, train, hook=progress, model=model, evaluate=evaluate, accelerator=accelerator
    )
    if not accelerator.is_main_process:
        return None  # the first process measures and registers
    hook(FINETUNE_JOB, message="measuring the new version and its parent on the held-out media")
    metrics = {
        "heldout": {
            "model": heldout_metrics(trained, data.heldout, data.heldout_rated),
            "parent": heldout_metrics(load_model(parent.path), data.heldout, data.heldout_rated),
            "groups": data.heldout_groups,
            "spans": len(data.heldout),
        },
        "train": {"spans": len(data.train), "sources": list(options.sources), "annotator": options.annotator},
    }
    trained.config.metrics = metrics
    return register_trained(repo, job, trained, parent, data, hook)


def register_trained(repo: Repository, job: Job, model: ChunkEmotionModel, parent: ModelVersion, data, hook) -> str:
    """Save ``model`` and register it for ``job``, atomically with the job still running
    (a job cancelled meanwhile registers nothing and leaves no folder)."""
    folder = get_settings().models_dir / f"{job.kind}-job{job.id}"
    if folder.exists():  # an earlier attempt died before registering: nothing points to it
        shutil.rmtree(folder)
    save_model(model, folder)
    version = ModelVersion(
        folder_version_id(folder),
        EMOTION_MODEL,
        str(Path(folder).resolve()),
        label_space=model.config.labels.to_json(),
        metrics=model.config.metrics,
        parent_id=parent.id,
        job_id=job.id,
    )
    if not repo.register_job_version(version, job.id, job.worker, data.media_ids, sorted(set(data.annotation_ids))):
        shutil.rmtree(folder, ignore_errors=True)
        current = repo.get_job(job.id)
        if current is not None and current.status == "cancelled":
            raise JobCancelled(f"job {job.id} was cancelled before its version was registered")
        raise JobLost(f"job {job.id} was given to another worker")
    held = model.config.metrics["heldout"]
    new, old = held["model"].get("uar"), held["parent"].get("uar")
    hook(
        job.kind,
        metrics={"version": version.id, "parent": parent.id},
        message=f"registered {version.id}"
        + ("" if new is None else f": held-out UAR {new:.3f} (parent {parent.id}: {old:.3f})"),
    )
    return version.id
