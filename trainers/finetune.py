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
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from emostudio.core.config import get_settings
from emostudio.core.domain import EMOTION_MODEL, FINETUNE_JOB, Job, ModelVersion
from emostudio.core.errors import StudioError
from emostudio.db.repository import Repository
from emostudio.features import FeatureCache, get_extractor
from emostudio.features.base import FeatureInput
from emostudio.model.captions.captioner import copy_captioner
from emostudio.model.chunk_inputs import ChunkInputs, build_chunk_inputs
from emostudio.model.network import ChunkEmotionModel, load_model, save_model
from emostudio.services.gold import LabelledSpan, gold_spans
from emostudio.services.training import FinetuneOptions
from emostudio.services.versions import active_version, folder_version_id
from emostudio.trainers.labelled import (
    group_of,
    held_out_groups,
    heldout_metrics,
    media_audio_inputs,
    rated_dimensions,
    span_item,
)
from emostudio.trainers.supervised import TrainConfig, TrainItem, make_accelerator, train_audio
from emostudio.trainers.worker import JobCancelled, JobLost, register


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
    audio: dict[str, np.ndarray] = field(default_factory=dict)
    """Each training-side media's audio chunk inputs (self-training reuses them)."""


class MediaReader:
    """A model's audio chunk inputs for library media (and with ``faces``, the face chunk
    inputs of media with a picture), features from the studio's cache."""

    def __init__(self, repo: Repository, config, faces: bool = False):
        settings = get_settings()
        self.cache = FeatureCache(settings.cache_dir / "features", repo)
        self.extractors = [get_extractor(n) for n in config.audio_extractors]
        self.face = get_extractor("face-fer2013", fps=settings.video_fps) if faces else None
        self.embedding = None
        self.face_problems: list[str] = []
        """One line per media whose picture could not be read (it trains on its voice alone)."""
        if faces and config.face_embedding_dim:
            self.embedding = get_extractor("face-fer2013-embedding", fps=settings.video_fps)
        self.grid = config.grid

    def read(self, media) -> tuple[np.ndarray, list, ChunkInputs | None] | str:
        """``(audio inputs [T, D], chunks, the face's chunk inputs or None)``, or why the
        media cannot be read (one line naming it)."""
        try:
            audio, chunks = media_audio_inputs(media, self.extractors, self.cache, self.grid)
        except Exception as err:  # noqa: BLE001 - one unreadable file must not stop the job
            return f"{media.name}: {getattr(err, 'problem', None) or err}"
        face = None
        if self.face is not None and media.info.has_video:
            try:
                embedding = None if self.embedding is None else self.cache.get(self.embedding, FeatureInput(media))
                face = build_chunk_inputs(
                    chunks, face=self.cache.get(self.face, FeatureInput(media)), face_embedding=embedding
                )
            except Exception as err:  # noqa: BLE001 - the voice still counts without the face
                self.face_problems.append(f"{media.name}: its face could not be read ({err})")
        return audio, chunks, face


def library_data(
    repo: Repository,
    model: ChunkEmotionModel,
    spans: list[LabelledSpan],
    holdout: float,
    keep=(),
    hook=None,
    faces: bool = False,
) -> LabelledData:
    """Training and held-out items for ``spans`` (the held-out side fixed by the groups'
    names, see ``held_out_groups``), with their faces when asked; a media that cannot be
    read is skipped and named."""
    config = model.config
    reader = MediaReader(repo, config, faces)
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
        read = reader.read(m)
        if isinstance(read, str):
            data.skipped.append(read)
            continue
        audio, chunks, face = read
        data.media_ids.append(media_id)
        held = groups[media_id] in heldout
        if not held:
            data.audio[media_id] = audio
        for span in theirs:
            item = span_item(audio, chunks, span, config.labels, groups[media_id], face)
            (data.heldout if held else data.train).append(item)
            data.annotation_ids.extend(span.annotation_ids)
            if held:
                rated.append(rated_dimensions([span])[0])
    data.heldout_rated = np.array(rated, bool).reshape(-1, 3)
    data.skipped.extend(reader.face_problems)
    return data


@dataclass
class TrainingRun:
    """What every training job does around its training: the parent version, the labelled
    data and its held-out side, progress reports (a history for the Train page's plot), the
    held-out measure after each epoch, and the measuring and registering at the end."""

    repo: Repository
    job: Job
    hook: object
    options: FinetuneOptions
    parent: ModelVersion
    model: ChunkEmotionModel
    data: LabelledData
    accelerator: object
    history: list = field(default_factory=list)
    offset: int = 0
    """Steps taken by earlier calls of the loop (self-training runs it once per round)."""

    @classmethod
    def start(
        cls, repo: Repository, job: Job, hook, options: FinetuneOptions, faces: bool = False, prepare=None
    ) -> TrainingRun:
        """``faces``: read the face inputs of the media too; ``prepare``: what to make of
        the parent's model before the data is read for it (alignment adds its modules)."""
        hook(job.kind, completed=0, total=None, message="reading the labels")
        parent = repo.get_model_version(options.parent) if options.parent else active_version(repo)
        if parent is None:
            raise StudioError(f"no model version {options.parent!r} to start from")
        spans, ties = gold_spans(repo.annotations(), repo.traces(), options.sources, options.annotator)
        who = f"{options.annotator}'s" if options.annotator else "everyone's"
        traced = sum(1 for s in spans if s.trace_ids)
        hook(
            job.kind,
            message=f"{len(spans) - traced} labelled spans from {who} {' and '.join(options.sources)} labels"
            + (f" and {traced} from continuous traces" if traced else "")
            + (f"; {ties} left out where annotators tied" if ties else ""),
        )
        model = load_model(parent.path)
        if prepare is not None:
            model = prepare(model)
        keep = (parent.metrics.get("heldout") or {}).get("groups", [])
        accelerator = make_accelerator()
        with accelerator.main_process_first():  # the first process fills the feature cache, the others read it
            data = library_data(repo, model, spans, options.holdout, keep, hook, faces)
        for note in data.skipped:
            hook(job.kind, message=f"skipped {note}")
        if not data.heldout:
            raise StudioError(
                "training needs labels on at least two media (or speakers): one side trains, "
                f"the other measures the new version; there are labels on {len(data.media_ids)}"
            )
        return cls(repo, job, hook, options, parent, model, data, accelerator)

    def read_rest(self, reader: MediaReader, wanted=lambda media: media.info.has_audio) -> list[tuple]:
        """``(media, what reader read)`` for the library's other training-side media (not
        held out, not read with the labels) that ``wanted`` picks; an unreadable one is
        skipped and named in the log."""
        held = set(self.data.heldout_groups)
        rest = [
            s.media
            for s in self.repo.list_media()
            if wanted(s.media) and group_of(s.media) not in held and s.media.id not in self.data.audio
        ]
        out = []
        with self.accelerator.main_process_first():  # the first process fills the feature cache
            for k, media in enumerate(rest):
                self.hook(self.job.kind, completed=k, total=len(rest))
                read = reader.read(media)
                if isinstance(read, str):
                    self.hook(self.job.kind, message=f"skipped {read}")
                else:
                    out.append((media, read))
        for note in reader.face_problems:
            self.hook(self.job.kind, message=note)
        return out

    def progress(self, step, *, completed=None, total=None, metrics=None, **_) -> None:
        """The training loop's hook: every step to the job row, each epoch to the history."""
        completed = None if completed is None else self.offset + completed
        total = None if total is None else self.offset + total
        if metrics and "epoch" in metrics:
            self.history.append({"step": completed, **metrics})
            uar = metrics.get("heldout_uar")
            self.hook(
                self.job.kind,
                completed=completed,
                total=total,
                metrics={"history": self.history},
                message=f"epoch {len(self.history)}: loss {metrics['loss']:.3f}"
                + ("" if uar is None else f", held-out UAR {uar:.3f}"),
            )
        else:
            self.hook(self.job.kind, completed=completed, total=total, metrics=metrics)

    def evaluate(self, model: ChunkEmotionModel) -> dict:
        return {"heldout_uar": heldout_metrics(model, self.data.heldout, full=False).get("uar")}

    def train(self, items: list[TrainItem], config: TrainConfig, model: ChunkEmotionModel, **loop) -> ChunkEmotionModel:
        """One run of the training loop (``loop``: ``train_audio``'s ``objective`` and
        ``trains``), its steps counted after those of the runs before."""
        before = len(self.history)
        trained = train_audio(
            model.config,
            items,
            config,
            hook=self.progress,
            model=model,
            evaluate=self.evaluate,
            accelerator=self.accelerator,
            **loop,
        )
        if len(self.history) > before:
            self.offset = self.history[-1]["step"]
        return trained

    def finish(self, trained: ChunkEmotionModel, extra: dict | None = None, pseudo=()) -> str | None:
        """Measure the new version and its parent on the held-out media and register it
        (the first process only); returns its id."""
        if not self.accelerator.is_main_process:
            return None
        data = self.data
        self.hook(self.job.kind, message="measuring the new version and its parent on the held-out media")
        trained.config.metrics = {
            "heldout": {
                # fused with the face where held-out media have one (alignment), else the voice alone
                "modalities": "audio+face" if any(it.face is not None for it in data.heldout) else "audio",
                "model": heldout_metrics(trained, data.heldout, data.heldout_rated),
                "parent": heldout_metrics(load_model(self.parent.path), data.heldout, data.heldout_rated),
                "groups": data.heldout_groups,
                "spans": len(data.heldout),
            },
            "train": {
                "spans": len(data.train),
                "sources": list(self.options.sources),
                "annotator": self.options.annotator,
                **(extra or {}),
            },
        }
        return register_trained(self.repo, self.job, trained, self.parent, data, self.hook, pseudo)


@register(FINETUNE_JOB)
def finetune_job(repo: Repository, job: Job, hook) -> str | None:
    """Fine-tune, measure on the held-out media, register; returns the new version's id."""
    options = FinetuneOptions.from_config(job.config)
    run = TrainingRun.start(repo, job, hook, options)
    if not run.data.train:
        raise StudioError("every labelled media is held out to measure the new version: label one more media")
    hook(
        job.kind,
        message=f"training on {len(run.data.train)} spans; {len(run.data.heldout)} spans of "
        f"{len(run.data.heldout_groups)} held-out speaker(s)/media measure the new version",
    )
    trained = run.train(run.data.train, TrainConfig(epochs=options.epochs, lr=options.lr, seed=options.seed), run.model)
    return run.finish(trained)


def job_folder(job: Job) -> Path:
    """Where ``job`` writes its version: ``<models_dir>/<kind>-job<id>``, empty."""
    folder = get_settings().models_dir / f"{job.kind}-job{job.id}"
    if folder.exists():  # an earlier attempt died before registering: nothing points to it
        shutil.rmtree(folder)
    return folder


def register_or_clean(repo: Repository, job: Job, version: ModelVersion, folder: Path, media_ids, used, pseudo=()):
    """Register ``version`` for ``job`` atomically with the job still running; a job
    cancelled (or given to another worker) meanwhile registers nothing and leaves no folder."""
    if not repo.register_job_version(version, job.id, job.worker, media_ids, used, pseudo):
        shutil.rmtree(folder, ignore_errors=True)
        current = repo.get_job(job.id)
        if current is not None and current.status == "cancelled":
            raise JobCancelled(f"job {job.id} was cancelled before its version was registered")
        raise JobLost(f"job {job.id} was given to another worker")


def register_trained(
    repo: Repository, job: Job, model: ChunkEmotionModel, parent: ModelVersion, data, hook, pseudo=()
) -> str:
    """Save ``model`` and register it for ``job`` with its ``pseudo``-labels (annotations),
    atomically with the job still running (a job cancelled meanwhile registers nothing,
    stores no pseudo-label and leaves no folder)."""
    folder = job_folder(job)
    save_model(model, folder)
    copy_captioner(parent.path, folder)  # the captioner reads the same audio inputs: it goes along
    version = ModelVersion(
        folder_version_id(folder),
        EMOTION_MODEL,
        str(Path(folder).resolve()),
        label_space=model.config.labels.to_json(),
        metrics=model.config.metrics,
        parent_id=parent.id,
        job_id=job.id,
    )
    pseudo = [replace(a, model_version_id=version.id) for a in pseudo]
    used = sorted(set(data.annotation_ids))
    register_or_clean(repo, job, version, folder, data.media_ids, used, pseudo)
    held = model.config.metrics["heldout"]
    new, old = held["model"].get("uar"), held["parent"].get("uar")
    hook(
        job.kind,
        metrics={"version": version.id, "parent": parent.id},
        message=f"registered {version.id}"
        + ("" if new is None else f": held-out UAR {new:.3f} (parent {parent.id}: {old:.3f})"),
    )
    return version.id
