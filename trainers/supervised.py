"""Supervised training of the chunk model from clip labels, and its evaluation.

The loop follows nanoGPT's order: learning rate, steps, log. Clip labels supervise
the attention-pooled clip logits, so chunk curves are learned without chunk labels;
arousal / valence / dominance are pulled toward the clip label's prototype (or a
person's values when annotations have them).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from emostudio.core.config import torch_device
from emostudio.model.network import ChunkEmotionModel, ChunkModelConfig, ModelInputs, ModelOutputs, avd_prototype

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
    sequence_share: float = 0.5
    """Synthetic sequences per epoch, as a share of the clips: clips of different classes by
    one speaker joined end to end, every chunk labelled by its clip, so the model learns
    that emotion changes inside a file (and where)."""
    chunk_weight: float = 1.0
    """Weight of the chunk-level loss on synthetic sequences (every chunk against its clip's class)."""
    device: str | None = None
    """Where to train (``settings.device`` when None: the GPU when there is one)."""
    consistency: float = 0.0
    """Weight of the consistency loss (0: off): each clip's audio probabilities under two
    perturbed views (see ``perturbed_views``) pulled toward those of the clean view.
    Self-training uses it on labelled and unlabelled clips alike."""


@dataclass(frozen=True)
class TrainItem:
    """Audio chunk inputs ``[T, D]`` of one clip, its class index, and its A/V/D target."""

    audio: np.ndarray
    label: int  # -100: no class (a compound, or only arousal / valence / dominance, was given)
    avd: tuple[float, float, float]
    weight: float = 1.0
    compound: int | None = None  # index into the label space's compound classes, when labelled
    group: str | None = None  # the speaker, when known: synthetic sequences join one speaker's clips
    chunk_labels: np.ndarray | None = None
    """A synthetic sequence's class per chunk (then the clip-level targets do not apply)."""
    chunk_avd: np.ndarray | None = None
    avd_known: tuple[bool, bool, bool] = (True, True, True)
    """Which of arousal / valence / dominance ``avd`` holds (a person may rate only one)."""
    curve: np.ndarray | None = None
    """A clip's own A/V/D target per chunk ``[T, 3]`` (the rankers' curves), where known."""
    face: np.ndarray | None = None
    """The face chunk inputs ``[T, F]``, row for row with ``audio``, of a media with a picture."""
    face_embedding: np.ndarray | None = None
    """The face's embedding per chunk ``[T, E]``, where read (alignment)."""

    @property
    def is_sequence(self) -> bool:
        return self.chunk_labels is not None


def items_from_examples(examples, classes: Sequence[str], label_of=lambda e: e.label) -> list[TrainItem]:
    return [
        TrainItem(e.inputs.audio, classes.index(label_of(e)), avd_prototype(e.raw_label), group=e.group)
        for e in examples
    ]


def synthetic_sequences(
    items: Sequence[TrainItem], n: int, rng: random.Random, max_chunks: int = 64
) -> list[TrainItem]:
    """``n`` sequences of 2 to 4 clips of different classes by one speaker (any clips when
    speakers are unknown), each cropped so the sequence fits ``max_chunks``."""
    by_group: dict[str | None, dict[int, list[TrainItem]]] = {}
    for it in items:
        if not it.is_sequence and it.label >= 0:
            by_group.setdefault(it.group, {}).setdefault(it.label, []).append(it)
    groups = [g for g, by_label in by_group.items() if len(by_label) >= 2]
    out = []
    for _ in range(n if groups else 0):
        by_label = by_group[rng.choice(groups)]
        labels = rng.sample(sorted(by_label), min(len(by_label), rng.randint(2, 4)))
        longest = max(1, max_chunks // len(labels))
        audio, chunk_labels, chunk_avd = [], [], []
        for label in labels:
            clip = rng.choice(by_label[label])
            x, off = clip.audio, 0
            if len(x) > longest:
                off = rng.randrange(len(x) - longest + 1)
                x = x[off : off + longest]
            audio.append(x)
            chunk_labels.append(np.full(len(x), label))
            if clip.curve is not None:  # the chunks keep their own curve, not their clip's one value
                chunk_avd.append(clip.curve[off : off + len(x)].astype(np.float32))
            else:
                chunk_avd.append(np.tile(np.asarray(clip.avd, np.float32), (len(x), 1)))
        out.append(
            TrainItem(
                np.concatenate(audio),
                labels[0],
                (0.0, 0.0, 0.0),
                chunk_labels=np.concatenate(chunk_labels),
                chunk_avd=np.concatenate(chunk_avd),
            )
        )
    return out


@dataclass
class ClipTargets:
    """What a batch is trained toward: per clip, and per chunk (``-100``: padding)."""

    labels: torch.Tensor
    avd: torch.Tensor
    avd_known: torch.Tensor
    weights: torch.Tensor
    compound: torch.Tensor
    is_sequence: torch.Tensor
    has_curve: torch.Tensor  # a clip with its own per-chunk A/V/D curve
    chunk_valid: torch.Tensor  # [B, T] False on padding
    chunk_labels: torch.Tensor
    chunk_avd: torch.Tensor

    def to(self, device) -> ClipTargets:
        return ClipTargets(**{k: v.to(device) for k, v in self.__dict__.items()})


def collate(items: Sequence[TrainItem], max_chunks: int | None = None, rng: random.Random | None = None):
    """Pad to the longest clip; crop longer clips to ``max_chunks`` at a random offset.
    Faces join the batch when an item has one (zeros, and absent, for the others)."""
    crops, faces, embeddings, chunk_labels, chunk_avd = [], [], [], [], []
    face_dim = next((it.face.shape[1] for it in items if it.face is not None), None)
    embedding_dim = next((it.face_embedding.shape[1] for it in items if it.face_embedding is not None), None)
    for it in items:
        lo, hi = 0, len(it.audio)
        if max_chunks and hi > max_chunks:
            lo = (rng or random).randrange(hi - max_chunks + 1)
            hi = lo + max_chunks
        crops.append(torch.from_numpy(np.ascontiguousarray(it.audio[lo:hi])))
        if face_dim is not None:
            face = it.face[lo:hi] if it.face is not None else np.zeros((hi - lo, face_dim), np.float32)
            faces.append(torch.from_numpy(np.ascontiguousarray(face, dtype=np.float32)))
        if embedding_dim is not None:
            emb = it.face_embedding
            emb = emb[lo:hi] if emb is not None else np.zeros((hi - lo, embedding_dim), np.float32)
            embeddings.append(torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32)))
        if it.is_sequence:
            chunk_labels.append(torch.from_numpy(it.chunk_labels[lo:hi].astype(np.int64)))
            chunk_avd.append(torch.from_numpy(it.chunk_avd[lo:hi]))
        else:  # a clip: its chunks have no class of their own (attention pooling finds them)
            chunk_labels.append(torch.full((hi - lo,), -100, dtype=torch.int64))
            curve = it.curve[lo:hi] if it.curve is not None else np.zeros((hi - lo, 3))
            chunk_avd.append(torch.from_numpy(np.asarray(curve, np.float32)))
    lengths = torch.tensor([len(x) for x in crops])
    audio = torch.nn.utils.rnn.pad_sequence(crops, batch_first=True)
    mask = torch.arange(audio.shape[1])[None] < lengths[:, None]
    targets = ClipTargets(
        labels=torch.tensor([it.label for it in items]),
        avd=torch.tensor([it.avd for it in items], dtype=torch.float32),
        avd_known=torch.tensor([it.avd_known for it in items], dtype=torch.float32),
        weights=torch.tensor([it.weight for it in items], dtype=torch.float32),
        compound=torch.tensor([-1 if it.compound is None else it.compound for it in items]),
        is_sequence=torch.tensor([it.is_sequence for it in items]),
        has_curve=torch.tensor([it.curve is not None and not it.is_sequence for it in items]),
        chunk_valid=mask,
        chunk_labels=torch.nn.utils.rnn.pad_sequence(chunk_labels, batch_first=True, padding_value=-100),
        chunk_avd=torch.nn.utils.rnn.pad_sequence(chunk_avd, batch_first=True),
    )
    if face_dim is None:
        return ModelInputs.of(audio=audio, chunk_mask=mask), targets
    face = torch.nn.utils.rnn.pad_sequence(faces, batch_first=True)
    has_face = face.abs().sum(-1) > 0  # a chunk none of whose windows saw a face is all zeros
    embedding = torch.nn.utils.rnn.pad_sequence(embeddings, batch_first=True) if embeddings else None
    inputs = ModelInputs.of(
        audio=audio, chunk_mask=mask, face=face, face_mask=has_face & mask, face_embedding=embedding
    )
    return inputs, targets


def make_accelerator(device: str | None = None):
    """The ``Accelerator`` a training run uses: the GPU when there is one (bf16 mixed
    precision where it supports it), the CPU otherwise; several processes when started
    under ``torchrun`` or ``accelerate launch`` (gradients averaged across them)."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    where = torch_device(device)
    bf16 = where.type == "cuda" and torch.cuda.is_bf16_supported()
    return Accelerator(
        cpu=where.type == "cpu",
        mixed_precision="bf16" if bf16 else "no",
        # a batch without compound labels leaves the compound head without a gradient
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )


AUDIO_FROZEN = ("text_head", "face_", "fusion", "audio_align", "align_head", "pair_")
"""What training on audio leaves alone: the other branches, the fusion and the alignment."""


def train_audio(
    config: ChunkModelConfig,
    items: Sequence[TrainItem],
    train: TrainConfig = TrainConfig(),
    hook: Hook | None = None,
    model: ChunkEmotionModel | None = None,
    evaluate: Callable[[ChunkEmotionModel], dict] | None = None,
    accelerator=None,
    objective: Callable[..., torch.Tensor] | None = None,
    trains: tuple[str, ...] | None = None,
) -> ChunkEmotionModel:
    """Train (or fine-tune ``model``) on clip-labelled audio; returns the model in eval mode.

    Other jobs reuse the loop with their own ``objective(outputs, targets, class_weight,
    train)`` (default ``audio_loss``) and ``trains``, the name prefixes of the parameters
    they train (default: the audio branch and its heads); the rest stays frozen.

    ``hook`` hears every step (``completed`` / ``total``) and, after each epoch, the mean
    loss and whatever ``evaluate(model)`` measures. Under several processes each takes
    its share of every epoch's batches and only the first one calls ``hook`` and
    ``evaluate``; the last report says how many clips each process trained on.
    """
    accelerator = accelerator or make_accelerator(train.device)
    objective = objective or audio_loss
    rank, world = accelerator.process_index, accelerator.num_processes
    torch.manual_seed(train.seed)
    rng = random.Random(train.seed)  # the same on every process: same sequences, same batch order
    crop_rng = random.Random(train.seed * 1009 + 1 + rank)  # crops: each process its own
    torch_rng = torch.Generator().manual_seed(train.seed * 1009 + 2 + rank)  # perturbations: the same
    if model is None:
        model = ChunkEmotionModel(config)
        model.fit_normalizer(torch.from_numpy(np.concatenate([it.audio for it in items])))
    # the learned compound head joins the co-activation scores once compound labels train it
    trains_compound = trains is None or any("compound_head".startswith(t) for t in trains)
    if trains_compound and any(it.compound is not None for it in items):
        model.config.compound_trained = True
    n_classes = len(config.labels.basic)
    counts = np.bincount([it.label for it in items if it.label >= 0], minlength=n_classes).astype(float)
    class_weight = torch.tensor(
        counts.sum() / np.maximum(counts, 1) / n_classes, dtype=torch.float32, device=accelerator.device
    )
    # what audio batches train; the rest is frozen for the run (and given back after), so that
    # several processes agree on which gradients to average
    untrained = AUDIO_FROZEN + (() if model.config.compound_trained else ("compound_head",))
    audio_params, frozen = [], []
    for name, p in model.named_parameters():
        if (not name.startswith(trains)) if trains is not None else name.startswith(untrained):
            if p.requires_grad:
                frozen.append(p.requires_grad_(False))
        else:
            audio_params.append(p)
    opt = torch.optim.AdamW(audio_params, lr=train.lr, weight_decay=train.weight_decay)
    model, opt = accelerator.prepare(model, opt)
    n_sequences = int(len(items) * train.sequence_share)
    sequences = synthetic_sequences(items, n_sequences, rng, train.max_chunks)  # none when one class
    batches_per_epoch = math.ceil((len(items) + len(sequences)) / train.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / world)  # per process
    total = train.epochs * steps_per_epoch
    report = hook if hook is not None and accelerator.is_main_process else None
    step, seen = 0, 0
    for epoch in range(train.epochs):
        model.train()
        # new sequences every epoch: the clips meet different neighbours each time
        if epoch:
            sequences = synthetic_sequences(items, n_sequences, rng, train.max_chunks)
        epoch_items = [*items, *sequences]
        order = list(range(len(epoch_items)))
        rng.shuffle(order)
        batches = [order[b * train.batch_size : (b + 1) * train.batch_size] for b in range(batches_per_epoch)]
        # every process takes as many steps (a collective step waits for all); the last may repeat a batch
        mine = [batches[(rank + k * world) % len(batches)] for k in range(steps_per_epoch)]
        epoch_loss = 0.0
        for batch in mine:
            lr = train.lr * 0.5 * (1 + math.cos(math.pi * step / total))  # cosine decay
            for group in opt.param_groups:
                group["lr"] = lr
            inputs, targets = collate([epoch_items[i] for i in batch], train.max_chunks, crop_rng)
            inputs, targets = inputs.to(accelerator.device), targets.to(accelerator.device)
            with accelerator.autocast():
                if (
                    train.consistency
                ):  # one forward pass over the clean batch and its views (one pass per step under DDP)
                    base = accelerator.unwrap_model(model)
                    views = perturbed_views(inputs, base.audio_std, torch_rng)
                    out = model(stack_batches([inputs, *views]))
                    clean = select_rows(out, slice(0, len(batch)), inputs.audio.shape[1])
                    loss = objective(clean, targets, class_weight, train)
                    loss = loss + train.consistency * consistency_loss(out, inputs.chunk_mask)
                else:
                    loss = objective(model(inputs), targets, class_weight, train)
            opt.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(audio_params, 5.0)
            opt.step()
            step += 1
            seen += len(batch)
            epoch_loss += loss.item()
            if report:
                report("train", completed=step, total=total)
        mean_loss = accelerator.reduce(torch.tensor(epoch_loss / steps_per_epoch, device=accelerator.device), "mean")
        if report:
            metrics = {"epoch": epoch + 1, "loss": float(mean_loss)}
            if evaluate is not None:
                metrics.update(evaluate(accelerator.unwrap_model(model)))
            report("train", completed=step, total=total, metrics=metrics)
    per_process = accelerator.gather(torch.tensor([seen], device=accelerator.device)).tolist()
    if report:
        report("train", metrics={"processes": world, "clips_per_process": per_process})
    accelerator.wait_for_everyone()
    for p in frozen:
        p.requires_grad_(True)
    return accelerator.unwrap_model(model).eval().to("cpu")


def audio_loss(out: ModelOutputs, t: ClipTargets, class_weight: torch.Tensor, train: TrainConfig) -> torch.Tensor:
    """Clip class and A/V/D through attention pooling (clips), plus every chunk of a
    synthetic sequence against its own clip's class and A/V/D."""
    clip = (~t.is_sequence).float() * t.weights
    ce = F.cross_entropy(out.modality_clip_logits["audio"], t.labels, weight=class_weight, reduction="none")
    squared = F.mse_loss(out.clip_avd, t.avd, reduction="none") * t.avd_known
    mse = squared.sum(-1) / t.avd_known.sum(-1).clamp(min=1.0)
    loss = ((ce + train.avd_weight * mse) * clip).sum() / clip.sum().clamp(min=1e-6)
    if train.chunk_weight:
        chunk_logits = out.modality_chunk_logits["audio"]
        # sequences only (clips' chunks are -100): inside one acted clip, attention pooling
        # finds the chunks that carry its emotion; across a sequence, every chunk has its clip's class
        valid = t.chunk_labels >= 0
        chunk_ce = F.cross_entropy(
            chunk_logits.transpose(1, 2), t.chunk_labels, weight=class_weight, ignore_index=-100, reduction="none"
        )
        chunk_mse = F.mse_loss(out.chunk_avd, t.chunk_avd, reduction="none").mean(-1)
        per_item = ((chunk_ce + train.avd_weight * chunk_mse) * valid).sum(1) / valid.sum(1).clamp(min=1)
        seq = t.is_sequence.float() * t.weights
        loss = loss + train.chunk_weight * (per_item * seq).sum() / seq.sum().clamp(min=1e-6)
        if t.has_curve.any():  # a clip's own curve: every chunk's A/V/D against it
            curve = (chunk_mse * t.chunk_valid).sum(1) / t.chunk_valid.sum(1).clamp(min=1)
            with_curve = t.has_curve.float() * t.weights
            loss = loss + train.chunk_weight * train.avd_weight * (curve * with_curve).sum() / with_curve.sum()
    # clip compound score = attention-pooled chunk scores; one-vs-rest on the clips with a
    # compound label (a batch without any adds zero, but keeps the head in the graph: several
    # processes must agree on which parameters have gradients)
    clip_compound = (out.chunk_weights[..., None] * out.chunk_compound).sum(1).clamp(1e-6, 1 - 1e-6)
    if clip_compound.shape[-1] == 0:  # a label space without compounds
        return loss
    has = (t.compound >= 0).float()
    target = F.one_hot(t.compound.clamp(min=0), clip_compound.shape[-1]).float()
    bce = F.binary_cross_entropy(clip_compound, target, reduction="none").mean(-1)
    return loss + (bce * has).sum() / has.sum().clamp(min=1.0)


def perturbed_views(
    inputs: ModelInputs, scale: torch.Tensor, generator: torch.Generator, noise: float = 0.2, masked: float = 0.15
) -> list[ModelInputs]:
    """Two perturbed views of a batch of audio chunk inputs, in feature space (the encoders
    are frozen, so a perturbation of the waveform would cost a feature extraction per step):

    - noise and masking: Gaussian noise at ``noise`` times each feature's spread (``scale``,
      the model's standardisation), and ``masked`` of the chunks set to the feature mean;
    - speed: the chunk sequence stretched or squeezed in time by 0.8 to 1.25 (as if the
      speaker talked slower or faster).
    """
    x, mask = inputs.audio, inputs.chunk_mask
    cpu = torch.randn(x.shape, generator=generator)
    noisy = x + noise * scale.to(x.device) * cpu.to(x.device)
    drop = (torch.rand(x.shape[:2], generator=generator) < masked).to(x.device) & mask
    mean = (x * mask[..., None]).sum((0, 1)) / mask.sum().clamp(min=1)
    noisy = torch.where(drop[..., None], mean.expand_as(x), noisy)
    factor = float(torch.empty(1).uniform_(0.8, 1.25, generator=generator))
    length = max(1, round(x.shape[1] * factor))
    stretched = F.interpolate(x.transpose(1, 2), size=length, mode="linear", align_corners=False).transpose(1, 2)
    stretched_mask = F.interpolate(mask[:, None].float(), size=length, mode="nearest")[:, 0] > 0.5
    stretched_mask[:, 0] |= mask[:, 0]  # never an empty clip
    return [
        ModelInputs.of(audio=noisy, chunk_mask=mask),
        ModelInputs.of(audio=stretched, chunk_mask=stretched_mask),
    ]


def stack_batches(batches: list[ModelInputs]) -> ModelInputs:
    """Audio batches of different lengths as one, padded to the longest."""
    longest = max(b.audio.shape[1] for b in batches)

    def pad(x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, 0, longest - x.shape[1])) if x.dim() == 3 else F.pad(x, (0, longest - x.shape[1]))

    return ModelInputs.of(
        audio=torch.cat([pad(b.audio) for b in batches]),
        chunk_mask=torch.cat([pad(b.chunk_mask) for b in batches]),
    )


CLIP_FIELDS = (
    "clip_log_probs",
    "clip_avd",
    "modality_clip_logits",
    "clip_modality_weights",
    "align_logits",
    "same_label_logits",
)


def select_rows(out: ModelOutputs, rows: slice, length: int) -> ModelOutputs:
    """Rows ``rows`` of a batch's outputs, their per-chunk parts cut back to ``length`` chunks."""

    def take(x, per_chunk: bool):
        if isinstance(x, dict):
            return {k: take(v, per_chunk) for k, v in x.items()}
        if x is None:
            return None
        return x[rows, :length] if per_chunk else x[rows]

    return ModelOutputs(**{f: take(getattr(out, f), f not in CLIP_FIELDS) for f in ModelOutputs.__dataclass_fields__})


def consistency_loss(out: ModelOutputs, chunk_mask: torch.Tensor) -> torch.Tensor:
    """KL divergence from the clean view's audio clip probabilities (the first ``n`` rows,
    held fixed) to each perturbed view's (the next ``n``, the last ``n``), plus chunk for
    chunk on the noisy view, whose chunks line up with the clean ones (``chunk_mask``: the
    clean rows' ``[n, T]``)."""
    n, length = chunk_mask.shape
    log_p = F.log_softmax(out.modality_clip_logits["audio"].float(), -1)
    target = log_p[:n].detach()
    loss = sum(F.kl_div(log_p[k * n : (k + 1) * n], target, log_target=True, reduction="batchmean") for k in (1, 2))
    chunks = F.log_softmax(out.modality_chunk_logits["audio"][: 2 * n, :length].float(), -1)
    per_chunk = F.kl_div(chunks[n:], chunks[:n].detach(), log_target=True, reduction="none").sum(-1)
    return loss + (per_chunk * chunk_mask).sum() / chunk_mask.sum().clamp(min=1)


@torch.inference_mode()
def predict_audio(model: ChunkEmotionModel, items: Sequence[TrainItem], batch_size: int = 64) -> np.ndarray:
    """Clip class probabilities ``[n, C]`` from the audio branch alone."""
    device = next(model.parameters()).device
    model.eval()
    probs = []
    for i in range(0, len(items), batch_size):
        inputs, _ = collate([replace(it, face=None, face_embedding=None) for it in items[i : i + batch_size]])
        probs.append(model(inputs.to(device)).modality_clip_logits["audio"].softmax(-1).cpu().numpy())
    return np.concatenate(probs)


@torch.inference_mode()
def predict_clips(
    model: ChunkEmotionModel, items: Sequence[TrainItem], batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Clip class probabilities ``[n, C]`` and clip arousal / valence / dominance ``[n, 3]``:
    the audio branch's, fused with the face where items have one."""
    device = next(model.parameters()).device
    model.eval()
    probs, avd = [], []
    for i in range(0, len(items), batch_size):
        inputs, *_ = collate(items[i : i + batch_size])
        out = model(inputs.to(device))
        probs.append(out.clip_log_probs.exp().cpu().numpy())
        avd.append(out.clip_avd.cpu().numpy())
    return np.concatenate(probs), np.concatenate(avd)


@torch.inference_mode()
def fit_temperature(model: ChunkEmotionModel, items: Sequence[TrainItem]) -> tuple[float, float, float]:
    """Set the audio temperature that minimises the clip negative log-likelihood on
    ``items`` (development clips, never test ones); returns (temperature, ECE before, ECE after)."""
    model.config.audio_temperature = 1.0
    probs = predict_audio(model, items)
    labels = np.array([it.label for it in items])
    logits = np.log(np.clip(probs, 1e-9, 1.0))  # clip log-probabilities at temperature 1

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(1, keepdims=True)
        return float(-(z[np.arange(len(labels)), labels] - np.log(np.exp(z).sum(1))).mean())

    grid = np.exp(np.linspace(np.log(0.5), np.log(8.0), 41))
    best = float(min(grid, key=nll))
    before = expected_calibration_error(probs, labels)
    model.config.audio_temperature = best
    after = expected_calibration_error(predict_audio(model, items), labels)
    return best, before, after


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE of the top class over equal-width confidence bins."""
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs((pred[inside] == labels[inside]).mean() - conf[inside].mean())
    return float(total)


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
