"""Self-training that adapts the model to the user's own media: the worker job behind
the Train page's "self-train" and ``emostudio train selftrain``.

Seeded by contrastive learning + self-training with few labels: a model trained on a few
labels gets better by learning from its own confident guesses on unlabelled data, kept
honest by class-balanced selection and by consistency between perturbed views.

1. The input standardisation is re-fitted on the library's own media (the unlabelled
   ones when there are at least 20, else all of them; never the held-out ones):
   recordings from another microphone, room or language shift every feature, and this
   undoes the shift without a single label. When it is fitted on the unlabelled media,
   the labelled media's inputs are shifted and scaled to the same statistics
   (``matched_to``): labels recorded elsewhere then train through the standardisation as
   the unlabelled media will be read through it.
2. Each round, the library's unlabelled media are pseudo-labelled where the model is
   confident, with class-balanced thresholds (Zou et al., 2018): per class, the
   confidence above which the top ``share * round`` of the media the model gives that
   class lie, so a class the model favours cannot take over the pseudo-labels.
3. The model is trained on the labels and the pseudo-labels, with a consistency loss
   between the clean and perturbed views (noise, masked chunks, speed) of every clip.

The last round's pseudo-labels are stored with the version, as annotations with
``source='pseudo'``: shown and exported as such, never counted as people's labels.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from emostudio.core.domain import SELFTRAIN_JOB, Annotation, Job
from emostudio.core.labels import avd_prototype
from emostudio.db.repository import Repository
from emostudio.model.network import ChunkEmotionModel
from emostudio.services.training import SelfTrainOptions
from emostudio.trainers.finetune import MediaReader, TrainingRun
from emostudio.trainers.supervised import TrainConfig, TrainItem, predict_audio
from emostudio.trainers.worker import register

MIN_MEDIA_FOR_STATISTICS = 20


def balanced_pseudo_labels(probs: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class-balanced pseudo-labels for clip probabilities ``[n, C]``: (indices, classes,
    confidences). Per class, the threshold is the confidence the top ``share`` of the clips
    predicted as that class reach; a clip is kept when some class's probability over its
    threshold is at least 1, and gets the class where that ratio is largest."""
    n, classes = probs.shape
    predicted, confidence = probs.argmax(1), probs.max(1)
    thresholds = np.ones(classes)
    for c in range(classes):
        mine = confidence[predicted == c]
        if len(mine):
            thresholds[c] = np.quantile(mine, 1.0 - share)
    ratio = probs / np.maximum(thresholds, 1e-6)
    keep = np.flatnonzero(ratio.max(1) >= 1.0)
    labels = ratio[keep].argmax(1)
    return keep, labels, probs[keep, labels]


def matched_to(items: Sequence[TrainItem], target: np.ndarray) -> list[TrainItem]:
    """``items`` with their audio inputs shifted and scaled, feature by feature, so that
    their chunks' mean and spread are those of ``target``'s chunks: labels recorded
    elsewhere (another corpus, microphone, language) read as if recorded where the
    unlabelled media were, which the re-fitted standardisation expects."""
    source = np.concatenate([it.audio for it in items])
    mean, std = source.mean(0), source.std(0).clip(min=1e-3)
    t_mean, t_std = target.mean(0), target.std(0).clip(min=1e-3)
    scale = (t_std / std).astype(np.float32)
    shift = (t_mean - mean * t_std / std).astype(np.float32)
    return [replace(it, audio=it.audio * scale + shift) for it in items]


def self_train(
    run_round,
    model: ChunkEmotionModel,
    labelled: Sequence[TrainItem],
    unlabelled: Sequence[np.ndarray],
    library: Sequence[np.ndarray],
    options: SelfTrainOptions,
    report=None,
) -> tuple[ChunkEmotionModel, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Self-train ``model`` on ``labelled`` items and ``unlabelled`` clips (chunk inputs
    ``[T, D]``); ``library`` (every train-side media's chunk inputs) re-fits the input
    standardisation. ``run_round(items, config, model)`` runs the training loop (a job's
    ``TrainingRun.train``, or ``train_audio`` in a benchmark). Returns the model and the
    last round's pseudo-labels (indices into ``unlabelled``, classes, confidences)."""
    classes = model.config.labels.basic
    if options.adapt_inputs and len(library):
        # the media the model knows least: the unlabelled ones, when there are enough to say
        # how features spread in them; else the whole library
        own = unlabelled if len(unlabelled) >= MIN_MEDIA_FOR_STATISTICS else library
        model.fit_normalizer(torch.from_numpy(np.concatenate(own)))
        if options.match_labelled and own is unlabelled and labelled:
            labelled = matched_to(labelled, np.concatenate(unlabelled))
    start = copy.deepcopy(model) if options.restart else None
    pseudo = (np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    for r in range(options.rounds):
        if len(unlabelled):
            probs = predict_audio(model, [TrainItem(a, -100, (0.0, 0.0, 0.0)) for a in unlabelled])
            pseudo = balanced_pseudo_labels(probs, min(options.max_share, options.share * (r + 1)))
        guessed = [
            TrainItem(
                unlabelled[i],
                int(c),
                avd_prototype(classes[c]),
                weight=float(p) if options.confidence_weight else 1.0,
                group=f"unlabelled:{i}",
            )
            for i, c, p in zip(*pseudo)
        ]
        if report:
            counts = np.bincount(pseudo[1], minlength=len(classes))
            spread = ", ".join(f"{k} {n}" for k, n in zip(classes, counts) if n)
            report(f"round {r + 1}: {len(guessed)} of {len(unlabelled)} unlabelled media pseudo-labelled ({spread})")
        config = TrainConfig(
            epochs=options.epochs, lr=options.lr, seed=options.seed + r, consistency=options.consistency
        )
        model = run_round([*labelled, *guessed], config, copy.deepcopy(start) if start is not None else model)
    return model, pseudo


@register(SELFTRAIN_JOB)
def selftrain_job(repo: Repository, job: Job, hook) -> str | None:
    """Self-train, measure on the held-out media, register with the pseudo-labels; returns the new version's id."""
    options = SelfTrainOptions.from_config(job.config)
    run = TrainingRun.start(repo, job, hook, options)
    config = run.model.config
    # the labelled media were read with the labels; the rest of the train side is read here
    rest = run.read_rest(MediaReader(repo, config))
    unlabelled_ids, unlabelled = [m.id for m, _ in rest], [read[0] for _, read in rest]
    library = [*run.data.audio.values(), *unlabelled]
    held = set(run.data.heldout_groups)
    hook(
        job.kind,
        message=f"{len(run.data.train)} labelled spans and {len(unlabelled)} unlabelled media train it; "
        f"{len(run.data.heldout)} spans of {len(held)} held-out speaker(s)/media measure it",
    )
    trained, (index, labels, confidence) = self_train(
        run.train,
        run.model,
        run.data.train,
        unlabelled,
        library,
        options,
        report=lambda line: hook(job.kind, message=line),
    )
    classes = config.labels.basic
    pseudo = [
        Annotation(
            None,
            unlabelled_ids[i],
            "pseudo",
            f"self-training (job {job.id})",
            label=classes[c],
            confidence=float(p),
            origin=f"job {job.id}, round {options.rounds}",
        )
        for i, c, p in zip(index, labels, confidence)
    ]
    extra = {"unlabelled_media": len(unlabelled), "pseudo_labels": len(pseudo), "rounds": options.rounds}
    run.data = replace(run.data, media_ids=sorted({*run.data.media_ids, *unlabelled_ids}))
    return run.finish(trained, extra, pseudo)
