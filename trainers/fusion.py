"""Learn how much each modality weighs in the fusion, on development data.

No corpus here has speech, faces and transcripts labelled together in any number (six
CREMA-D clips and one MEAD clip have all three), so the fusion is fitted on *paired*
development examples: for each emotion, an audio clip of a development speaker, a MELD
development utterance and a talking-face development clip with that label, each scored
by its own branch of the model (never by a branch trained on it). Every modality is
left out of a pair at random, so the weights also learn what a pair of two modalities,
or one, is worth. The weights are the shares of the model's linear pool
(``ChunkEmotionModel._fuse``), fitted by maximising the fused probability of the true
emotion; a light pull towards equal shares keeps a modality with few development
examples from being set to zero by noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emostudio.model.network import MODALITIES, fuse


@dataclass
class DevelopmentScores:
    """One modality's class probabilities ``[n, C]`` on its development examples, and their labels."""

    probs: np.ndarray
    labels: np.ndarray


def paired_examples(
    scores: dict[str, DevelopmentScores], n_classes: int, per_class: int = 200, keep: float = 0.7, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of development examples with the same label, one per modality.

    Returns ``probs [n, 3, C]`` (zeros where a modality is left out), ``present [n, 3]``
    and ``labels [n]``. A modality with no example of a class is absent from that
    class's pairs; each other one is kept with probability ``keep`` (at least one is)."""
    rng = np.random.default_rng(seed)
    probs, present, labels = [], [], []
    for c in range(n_classes):
        pools = {m: np.flatnonzero(s.labels == c) for m, s in scores.items()}
        if not any(len(p) for p in pools.values()):
            continue
        for _ in range(per_class):
            row = np.zeros((len(MODALITIES), n_classes), np.float32)
            has = np.zeros(len(MODALITIES), bool)
            for i, m in enumerate(MODALITIES):
                if len(pools.get(m, ())) and rng.random() < keep:
                    row[i], has[i] = scores[m].probs[rng.choice(pools[m])], True
            if not has.any():  # keep one of the modalities that have this class
                i = MODALITIES.index(rng.choice([m for m in scores if len(pools[m])]))
                row[i], has[i] = scores[MODALITIES[i]].probs[rng.choice(pools[MODALITIES[i]])], True
            probs.append(row)
            present.append(has)
            labels.append(c)
    return np.stack(probs), np.stack(present), np.array(labels)


def _pair_log_fused(
    probs: torch.Tensor, present: torch.Tensor, fusion_logits: torch.Tensor, fusion: str = "linear"
) -> torch.Tensor:
    """``[n, C]`` log-probabilities of the pairs fused as the model fuses (``network.fuse``),
    each pair's shares renormalised over the modalities it has."""
    share = torch.softmax(fusion_logits, 0) * present.float()
    share = share / share.sum(1, keepdim=True)
    return fuse(share, torch.log(probs.float().clamp(min=1e-9)), fusion)


def fit_fusion_logits(
    probs: np.ndarray, present: np.ndarray, labels: np.ndarray, pull: float = 0.01, steps: int = 500
) -> np.ndarray:
    """The share logits (one per modality) that maximise the mean log fused probability of
    the true class under the linear pool, with ``pull`` x the logits' squared norm."""
    p, has, y = (torch.from_numpy(np.asarray(a)) for a in (probs, present, labels))
    logits = torch.zeros(len(MODALITIES), requires_grad=True)
    optimiser = torch.optim.LBFGS([logits], max_iter=steps, line_search_fn="strong_wolfe")

    def loss():
        optimiser.zero_grad()
        log_fused = _pair_log_fused(p, has, logits)
        value = -log_fused[torch.arange(len(y)), y].mean() + pull * (logits**2).sum()
        value.backward()
        return value

    optimiser.step(loss)
    out = logits.detach()
    return (out - out.mean()).numpy()


@torch.inference_mode()
def fused_predictions(
    probs: np.ndarray, present: np.ndarray, fusion_logits: np.ndarray, fusion: str = "linear"
) -> np.ndarray:
    """``[n, C]`` fused probabilities of the pairs under ``fusion_logits``: the linear pool,
    or the weighted product ("log-linear", how models fused before) for comparison."""
    tensors = (torch.from_numpy(np.asarray(a)) for a in (probs, present, fusion_logits))
    return _pair_log_fused(*tensors, fusion).exp().numpy()
