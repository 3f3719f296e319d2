"""Chunk-level emotion rankers, and the chunk model trained on their curves: the worker
job behind the Train page's "rankers" and ``emostudio train rankers``.

Seeded by chunk-level emotion rankers and sequence models of non-uniform emotion in
speech: a clip label says how a whole clip feels, not how each quarter second of it
does. "Which of these two chunks is more aroused (more positive, more dominant)?" is an
easier question, and it has known answers:

- a chunk of a clip labelled high on a dimension against a chunk of a clip of the same
  speaker labelled low (by their classes' prototypes, or by people's ratings), when the
  two differ by at least ``MARGIN``;
- a chunk inside a span someone rated against a chunk of the same media outside it,
  when the two ratings differ as much.

A ranker per dimension learns these preferences (RankNet). Its scores along each clip,
smoothed over a second and mapped onto the dimension's scale (isotonic regression of
each labelled clip's mean score on its value), are that clip's target curve; the chunk
model then learns its arousal / valence / dominance curves from them, and its classes
from the clip labels as before.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emostudio.core.domain import RANKERS_JOB, Job
from emostudio.db.repository import Repository
from emostudio.services.training import FinetuneOptions
from emostudio.trainers.finetune import TrainingRun
from emostudio.trainers.supervised import TrainConfig, TrainItem
from emostudio.trainers.worker import register

MARGIN = 0.2
"""How far apart two labels must lie on a dimension for their chunks to make a pair."""
SMOOTH = 5
"""Chunks a curve is averaged over (1.25 s at 0.25 s chunks)."""


class ChunkRanker(nn.Module):
    """One score per dimension for each chunk's inputs ``[..., D]`` (standardised inside)."""

    def __init__(self, dim: int, hidden: int = 64, dimensions: int = 3):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.net = nn.Sequential(nn.Dropout(0.1), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dimensions))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def preference_pairs(
    items: Sequence[TrainItem], n: int, rng: random.Random
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` pairs per dimension: (item and chunk of the higher one, of the lower one,
    dimension) as index arrays ``[m, 2]``, ``[m, 2]``, ``[m]``. Pairs join clips of one
    speaker where the speakers are known (a voice's range says more within it than across)."""
    by_group: dict[str | None, list[int]] = {}
    for i, it in enumerate(items):
        by_group.setdefault(it.group, []).append(i)
    groups = [g for g in by_group.values() if len(g) >= 2] or [list(range(len(items)))]
    high, low, dims = [], [], []
    for d in range(3):
        tries = 0
        made = 0
        while made < n and tries < 20 * n:
            tries += 1
            i, j = rng.sample(rng.choice(groups), 2)
            a, b = items[i], items[j]
            if not (a.avd_known[d] and b.avd_known[d]) or abs(a.avd[d] - b.avd[d]) < MARGIN:
                continue
            if a.avd[d] < b.avd[d]:
                i, j, a, b = j, i, b, a
            high.append((i, rng.randrange(len(a.audio))))
            low.append((j, rng.randrange(len(b.audio))))
            dims.append(d)
            made += 1
    return np.array(high, int).reshape(-1, 2), np.array(low, int).reshape(-1, 2), np.array(dims, int)


def train_rankers(
    items: Sequence[TrainItem], epochs: int = 20, pairs: int = 2000, lr: float = 1e-3, seed: int = 0
) -> ChunkRanker:
    """Rankers for the three dimensions from the preferences ``items`` imply."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    chunks = torch.from_numpy(np.concatenate([it.audio for it in items]))
    ranker = ChunkRanker(chunks.shape[1])
    ranker.mean.copy_(chunks.mean(0))
    ranker.std.copy_(chunks.std(0).clamp(min=1e-3))
    opt = torch.optim.AdamW(ranker.parameters(), lr=lr, weight_decay=0.01)
    for _ in range(epochs):
        high, low, dims = preference_pairs(items, pairs, rng)
        if not len(dims):
            break
        a = torch.from_numpy(np.stack([items[i].audio[c] for i, c in high]))
        b = torch.from_numpy(np.stack([items[i].audio[c] for i, c in low]))
        d = torch.from_numpy(dims)
        ranker.train()
        for batch in torch.randperm(len(d)).split(256):
            diff = (ranker(a[batch]) - ranker(b[batch])).gather(1, d[batch, None])[:, 0]
            loss = F.softplus(-diff).mean()  # RankNet: -log sigmoid(score_high - score_low)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return ranker.eval()


def _smooth(x: np.ndarray, width: int = SMOOTH) -> np.ndarray:
    """Moving average along time (edges averaged over what is there)."""
    kernel = np.ones(width) / width
    out = np.stack([np.convolve(x[:, k], kernel, mode="same") for k in range(x.shape[1])], 1)
    norm = np.convolve(np.ones(len(x)), kernel, mode="same")[:, None]
    return out / norm


@torch.inference_mode()
def ranker_curves(ranker: ChunkRanker, items: Sequence[TrainItem]) -> list[np.ndarray]:
    """Each item's target curve ``[T, 3]`` in [-1, 1]: smoothed ranker scores, mapped onto
    each dimension's scale by isotonic regression of the clips' mean scores on their values."""
    from sklearn.isotonic import IsotonicRegression

    scores = [_smooth(ranker(torch.from_numpy(it.audio)).numpy()) for it in items]
    curves = [np.zeros_like(s) for s in scores]
    for d in range(3):
        known = [k for k, it in enumerate(items) if it.avd_known[d]]
        if len(known) < 2:  # nobody gave this dimension: each clip keeps its own value
            for k, it in enumerate(items):
                curves[k][:, d] = it.avd[d]
            continue
        fit = IsotonicRegression(y_min=-1.0, y_max=1.0, out_of_bounds="clip")
        fit.fit([scores[k][:, d].mean() for k in known], [items[k].avd[d] for k in known])
        for k, s in enumerate(scores):
            curves[k][:, d] = fit.predict(s[:, d])
    return [c.astype(np.float32) for c in curves]


def with_ranker_curves(items: Sequence[TrainItem], epochs: int = 20, seed: int = 0) -> list[TrainItem]:
    """``items`` with their rankers' target curves (see the module)."""
    from dataclasses import replace

    ranker = train_rankers(items, epochs=epochs, seed=seed)
    return [replace(it, curve=c) for it, c in zip(items, ranker_curves(ranker, items))]


@register(RANKERS_JOB)
def rankers_job(repo: Repository, job: Job, hook) -> str | None:
    """Rankers from the labels, their curves as chunk targets, the chunk model trained on
    them, measured on the held-out media, registered; returns the new version's id."""
    options = FinetuneOptions.from_config(job.config)
    run = TrainingRun.start(repo, job, hook, options)
    hook(job.kind, message=f"training the rankers on {len(run.data.train)} labelled spans")
    items = with_ranker_curves(run.data.train, seed=options.seed)
    hook(job.kind, message="training the chunk model on the rankers' curves and the labels")
    trained = run.train(items, TrainConfig(epochs=options.epochs, lr=options.lr, seed=options.seed), run.model)
    return run.finish(trained, {"ranker_curves": len(items)})
