"""Caption alignment: the worker job behind the Train page's "align captions with the
annotators' edits" and ``emostudio train captions``.

People's edited captions (``source='human'``, the newest per person and span) are paired
with the audio of the span they describe (the mean of its chunks' audio inputs). The
captioner's projection of audio into the sentence space then learns contrastively (a
symmetric InfoNCE over the pairs: each span's audio close to its own caption's
embedding, away from the other captions'), so that the self-reward ranks candidates that read like what annotators write higher. Spans of
held-out speakers (or media) measure it: how highly each one's audio ranks its own edited
caption among all the held-out captions, before and after. The chunk model is copied as
it is; only ``captioner.safetensors`` changes.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from emostudio.core.config import get_settings
from emostudio.core.domain import CAPTION_JOB, EMOTION_MODEL, Caption, Job, ModelVersion
from emostudio.core.errors import StudioError
from emostudio.db.repository import Repository
from emostudio.features.text import embed_texts
from emostudio.model.captions.captioner import AudioProjection, load_captioner, save_captioner
from emostudio.model.network import CONFIG_FILE, WEIGHTS_FILE, load_model
from emostudio.services.training import CaptionOptions
from emostudio.services.versions import active_version, folder_version_id
from emostudio.trainers.finetune import MediaReader, job_folder, register_or_clean
from emostudio.trainers.labelled import group_of, held_out_groups
from emostudio.trainers.worker import register


def current_edits(captions: list[Caption], annotator: str | None = None) -> list[Caption]:
    """Each person's newest caption of each span (a media, or a segment of it)."""
    newest: dict[tuple, Caption] = {}
    for c in captions:
        if c.source == "human" and (annotator is None or c.annotator == annotator):
            key = (c.media_id, c.annotator, None if c.start is None else round(c.start, 3), c.duration)
            newest[key] = c
    return sorted(newest.values(), key=lambda c: c.id or 0)


def span_input(audio: np.ndarray, chunks, start: float | None, duration: float | None) -> np.ndarray:
    """The mean audio input of the chunks centred in the span (the nearest one when it is
    shorter than a chunk; the whole media when ``start`` is None)."""
    if start is None:
        return audio.mean(0)
    centres = np.array([c.center for c in chunks])
    inside = (centres >= start) & (centres < start + (duration or 0.0))
    if not inside.any():
        inside[np.argmin(np.abs(centres - (start + (duration or 0.0) / 2)))] = True
    return audio[inside].mean(0)


def own_caption_ranks(projection: AudioProjection, x: np.ndarray, texts: list[str], y: np.ndarray) -> dict:
    """For each pair, where its own caption ranks among the distinct captions by
    similarity to its projected audio (1: first); the mean rank, recall at 1, and the mean
    similarity of the audio to its own caption."""
    if not len(x):
        return {}
    distinct = list(dict.fromkeys(texts))
    own = np.array([distinct.index(t) for t in texts])
    z = projection.project(x)
    z = z / np.linalg.norm(z, axis=1, keepdims=True).clip(1e-9)
    e = y[[texts.index(t) for t in distinct]]
    sims = z @ e.T
    ranks = (sims > sims[np.arange(len(x)), own][:, None]).sum(1) + 1
    return {
        "pairs": len(x),
        "captions": len(distinct),
        "mean_rank": round(float(ranks.mean()), 3),
        "recall_at_1": round(float((ranks == 1).mean()), 3),
        "own_similarity": round(float(sims[np.arange(len(x)), own].mean()), 4),
    }


def align_projection(
    projection: AudioProjection, x: np.ndarray, texts: list[str], y: np.ndarray, options: CaptionOptions, hook=None
) -> AudioProjection:
    """A copy of ``projection`` trained on the pairs (``x`` audio inputs, ``y`` caption
    embeddings; pairs with the same text share their positive)."""
    torch.manual_seed(options.seed)
    trained = copy.deepcopy(projection).train()
    xs, ys = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    same = torch.tensor([[a == b for b in texts] for a in texts])
    optimizer = torch.optim.Adam(trained.linear.parameters(), lr=options.lr)
    for step in range(options.epochs):
        z = F.normalize(trained(xs), dim=-1)
        logits = z @ ys.T / options.temperature
        audio_to_text = -(F.log_softmax(logits, 1).masked_fill(~same, 0.0).sum(1) / same.sum(1)).mean()
        text_to_audio = -(F.log_softmax(logits, 0).masked_fill(~same, 0.0).sum(0) / same.sum(0)).mean()
        loss = (audio_to_text + text_to_audio) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if hook is not None and (step + 1) % max(1, options.epochs // 20) == 0:
            hook(CAPTION_JOB, completed=step + 1, total=options.epochs, metrics={"loss": float(loss)})
    return trained.eval()


@register(CAPTION_JOB)
def caption_job(repo: Repository, job: Job, hook) -> str | None:
    """Align the caption projection with people's edits, measure on held-out spans, register."""
    from accelerate import PartialState

    if not PartialState().is_main_process:  # a few hundred pairs at most: the first process trains them alone
        return None
    options = CaptionOptions.from_config(job.config)
    parent = repo.get_model_version(options.parent) if options.parent else active_version(repo)
    if parent is None:
        raise StudioError(f"no model version {options.parent!r} to start from")
    config = load_model(parent.path).config
    captioner = load_captioner(parent.path, tuple(config.audio_extractors))
    if captioner.projection is None:
        raise StudioError(
            f"model version {parent.id} reads audio inputs the caption projection was not made for; nothing to align"
        )
    edits = current_edits(repo.captions(source="human"), options.annotator)
    who = f"{options.annotator}'s" if options.annotator else "everyone's"
    hook(job.kind, completed=0, total=None, message=f"{len(edits)} edited captions ({who})")
    reader = MediaReader(repo, config)
    read: dict[str, tuple] = {}
    pairs = []
    for k, edit in enumerate(edits):
        hook(job.kind, completed=k, total=len(edits))
        media = repo.get_media(edit.media_id)
        if media is None:
            continue
        if media.id not in read:
            read[media.id] = reader.read(media)
        if isinstance(read[media.id], str):
            hook(job.kind, message=f"skipped {read[media.id]}")
            continue
        audio, chunks, _ = read[media.id]
        pairs.append((group_of(media), span_input(audio, chunks, edit.start, edit.duration), edit))
    if len({p[2].text for p in pairs}) < 2:
        raise StudioError("caption alignment needs at least two different edited captions; edit captions in Annotate")
    held = held_out_groups([g for g, _, _ in pairs], options.holdout)
    train = [p for p in pairs if p[0] not in held]
    test = [p for p in pairs if p[0] in held]
    if not train:
        raise StudioError(
            "every edited caption is held out to measure the new version: edit captions of one more media"
        )

    def arrays(side):
        texts = [e.text for _, _, e in side]
        return np.stack([x for _, x, _ in side]) if side else np.zeros((0, 1)), texts, embed_texts(texts)

    (train_x, train_t, train_y), (test_x, test_t, test_y) = arrays(train), arrays(test)
    hook(job.kind, message=f"training on {len(train)} (audio, caption) pairs; {len(test)} held-out pairs measure it")
    trained = align_projection(captioner.projection, train_x, train_t, train_y, options, hook)
    metrics = {
        "captions": {
            "heldout": {
                "model": own_caption_ranks(trained, test_x, test_t, test_y),
                "parent": own_caption_ranks(captioner.projection, test_x, test_t, test_y),
                "groups": sorted(held),
            },
            "train": {
                "model": own_caption_ranks(trained, train_x, train_t, train_y),
                "parent": own_caption_ranks(captioner.projection, train_x, train_t, train_y),
                "annotator": options.annotator,
            },
            "caption_ids": [e.id for _, _, e in pairs],
        }
    }
    captioner.projection = trained
    captioner.metrics = {**captioner.metrics, "aligned_with_edits": metrics["captions"]}
    lm = get_settings().caption_lm
    if lm is not None:  # the generative mode: a prefix for the local language model, from the same pairs
        from emostudio.model.captions.generative import PrefixCaptioner

        hook(job.kind, message=f"training the prefix of the language model in {Path(lm).name} on the same pairs")
        captioner.generator = PrefixCaptioner(lm)
        loss = captioner.generator.fit(trained.project(train_x), train_t, epochs=options.epochs, seed=options.seed)
        metrics["captions"]["generator"] = {"language_model": Path(lm).name, "train_loss": round(loss, 4)}
    return register_captions(repo, job, parent, captioner, metrics, sorted({e.media_id for _, _, e in pairs}), hook)


def register_captions(repo, job: Job, parent: ModelVersion, captioner, metrics: dict, media_ids, hook) -> str:
    """A version that is ``parent``'s chunk model with this captioner, registered for ``job``."""
    folder = job_folder(job)
    folder.mkdir(parents=True)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        shutil.copy2(Path(parent.path) / name, folder / name)
    save_captioner(captioner, folder)
    if captioner.generator is not None:
        captioner.generator.save(folder)
    version = ModelVersion(
        folder_version_id(folder),  # the parent's weights, under this job's folder name
        EMOTION_MODEL,
        str(folder.resolve()),
        label_space=parent.label_space,
        metrics=metrics,
        parent_id=parent.id,
        job_id=job.id,
    )
    register_or_clean(repo, job, version, folder, media_ids, [])
    held = metrics["captions"]["heldout"]
    new, old = held["model"].get("mean_rank"), held["parent"].get("mean_rank")
    hook(
        job.kind,
        metrics={"version": version.id, "parent": parent.id},
        message=f"registered {version.id}"
        + ("" if new is None else f": held-out mean rank of the edited caption {new:.2f} (parent {old:.2f})"),
    )
    return version.id
