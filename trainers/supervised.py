"""Supervised training of the chunk model from clip labels, and its evaluation.

The loop follows nanoGPT's order: learning rate, steps, log. Clip labels supervise
the attention-pooled clip logits, so chunk curves are learned without chunk labels;
arousal / valence / dominance are pulled toward the clip label's prototype (or a
person's values when annotations have them).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from emostudio.core.config import torch_device
from emostudio.model.network import ChunkEmotionModel, ChunkModelConfig, ModelInputs, avd_prototype

Hook = Callable[..., None]


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    avd_weight: float = 0.5
    max_chunks: int = 64  # random crop of long clips per step: bounded memory, more variety
    seed: int = 0
    device: str | None = None
    """Where to train (``settings.device`` when None: the GPU when there is one)."""


@dataclass(frozen=True)
class TrainItem:
    """Audio chunk inputs ``[T, D]`` of one clip, its class index, and its A/V/D target."""

    audio: np.ndarray
    label: int
    avd: tuple[float, float, float]
    weight: float = 1.0
    compound: int | None = None  # index into the label space's compound classes, when labelled


def items_from_examples(examples, classes: Sequence[str], label_of=lambda e: e.label) -> list[TrainItem]:
    return [TrainItem(e.inputs.audio, classes.index(label_of(e)), avd_prototype(e.raw_label)) for e in examples]


def collate(items: Sequence[TrainItem], max_chunks: int | None = None, rng: random.Random | None = None):
    """Pad to the longest clip; crop longer clips to ``max_chunks`` at a random offset."""
    crops = []
    for it in items:
        x = it.audio
        if max_chunks and len(x) > max_chunks:
            off = (rng or random).randrange(len(x) - max_chunks + 1)
            x = x[off : off + max_chunks]
        crops.append(torch.from_numpy(np.ascontiguousarray(x)))
    lengths = torch.tensor([len(x) for x in crops])
    audio = torch.nn.utils.rnn.pad_sequence(crops, batch_first=True)
    mask = torch.arange(audio.shape[1])[None] < lengths[:, None]
    labels = torch.tensor([it.label for it in items])
    avd = torch.tensor([it.avd for it in items], dtype=torch.float32)
    weights = torch.tensor([it.weight for it in items], dtype=torch.float32)
    compound = torch.tensor([-1 if it.compound is None else it.compound for it in items])
    return ModelInputs.of(audio=audio, chunk_mask=mask), labels, avd, weights, compound


def train_audio(
    config: ChunkModelConfig,
    items: Sequence[TrainItem],
    train: TrainConfig = TrainConfig(),
    hook: Hook | None = None,
    model: ChunkEmotionModel | None = None,
) -> ChunkEmotionModel:
    """Train (or fine-tune ``model``) on clip-labelled audio; returns the model in eval mode."""
    torch.manual_seed(train.seed)
    rng = random.Random(train.seed)
    device = torch_device(train.device)
    if model is None:
        model = ChunkEmotionModel(config)
        model.fit_normalizer(torch.from_numpy(np.concatenate([it.audio for it in items])))
    model.to(device)
    # the learned compound head joins the co-activation scores once compound labels exist
    if any(it.compound is not None for it in items):
        model.config.compound_trained = True
    n_classes = len(config.labels.basic)
    counts = np.bincount([it.label for it in items], minlength=n_classes).astype(float)
    class_weight = torch.tensor(counts.sum() / np.maximum(counts, 1) / n_classes, dtype=torch.float32, device=device)
    audio_params = [p for n, p in model.named_parameters() if not n.startswith(("text_head", "face_", "fusion"))]
    opt = torch.optim.AdamW(audio_params, lr=train.lr, weight_decay=train.weight_decay)
    steps_per_epoch = math.ceil(len(items) / train.batch_size)
    total = train.epochs * steps_per_epoch
    step = 0
    order = list(range(len(items)))
    for epoch in range(train.epochs):
        model.train()
        rng.shuffle(order)
        epoch_loss = 0.0
        for b in range(steps_per_epoch):
            lr = train.lr * 0.5 * (1 + math.cos(math.pi * step / total))  # cosine decay
            for group in opt.param_groups:
                group["lr"] = lr
            batch = [items[i] for i in order[b * train.batch_size : (b + 1) * train.batch_size]]
            inputs, *targets = collate(batch, train.max_chunks, rng)
            inputs, (labels, avd, weights, compound) = inputs.to(device), [t.to(device) for t in targets]
            loss = audio_loss(model, inputs, labels, avd, weights, class_weight, train.avd_weight, compound)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(audio_params, 5.0)
            opt.step()
            step += 1
            epoch_loss += loss.item()
        if hook:
            hook("train", completed=epoch + 1, total=train.epochs, metrics={"loss": epoch_loss / steps_per_epoch})
    return model.eval().to("cpu")


def audio_loss(
    model,
    inputs: ModelInputs,
    labels,
    avd,
    weights,
    class_weight,
    avd_weight: float,
    compound: torch.Tensor | None = None,
) -> torch.Tensor:
    out = model(inputs)
    ce = F.cross_entropy(out.modality_clip_logits["audio"], labels, weight=class_weight, reduction="none")
    mse = F.mse_loss(out.clip_avd, avd, reduction="none").mean(-1)
    loss = ((ce + avd_weight * mse) * weights).sum() / weights.sum()
    if compound is not None and (compound >= 0).any():
        # clip compound score = attention-pooled chunk scores; one-vs-rest on the labelled clips
        clip_compound = (out.chunk_weights[..., None] * out.chunk_compound).sum(1).clamp(1e-6, 1 - 1e-6)
        has = compound >= 0
        target = F.one_hot(compound[has], clip_compound.shape[-1]).float()
        loss = loss + F.binary_cross_entropy(clip_compound[has], target)
    return loss


@torch.inference_mode()
def predict_audio(model: ChunkEmotionModel, items: Sequence[TrainItem], batch_size: int = 64) -> np.ndarray:
    """Clip class probabilities ``[n, C]`` from the audio branch."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, len(items), batch_size):
        inputs, *_ = collate(items[i : i + batch_size])
        out.append(model(inputs.to(device)).modality_clip_logits["audio"].softmax(-1).cpu().numpy())
    return np.concatenate(out)


def uar_wa(y_true: Sequence[int], y_pred: Sequence[int]) -> tuple[float, float]:
    """Unweighted average recall (mean recall over the classes ``y_true`` has) and accuracy."""
    from sklearn.metrics import accuracy_score, recall_score

    present = sorted(set(np.asarray(y_true).tolist()))
    uar = recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    return float(uar), float(accuracy_score(y_true, y_pred))


def train_text(
    model: ChunkEmotionModel,
    embeddings: np.ndarray,
    labels: Sequence[int],
    epochs: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    hook: Hook | None = None,
) -> ChunkEmotionModel:
    """Train the text head on utterance embeddings (class-balanced)."""
    torch.manual_seed(seed)
    x = torch.from_numpy(np.asarray(embeddings, np.float32))
    y = torch.tensor(labels)
    n = len(model.config.labels.basic)
    counts = torch.bincount(y, minlength=n).float()
    class_weight = counts.sum() / counts.clamp(min=1) / n
    opt = torch.optim.AdamW(model.text_head.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.text_head.train()
        for idx in torch.randperm(len(x), generator=g).split(64):
            loss = F.cross_entropy(model.text_head(x[idx]), y[idx], weight=class_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if hook:
            hook("train-text", completed=epoch + 1, total=epochs, metrics={"loss": loss.item()})
    return model.eval()
