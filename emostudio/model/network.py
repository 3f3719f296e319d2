"""The chunk-level emotion model: per-chunk basic-emotion probabilities and
arousal / valence / dominance, pooled into a clip prediction with learned,
non-uniform chunk weights, for audio, face and text fused late.

Why this shape:

- Clip labels are all the corpora have. Attention pooling of chunk logits (multiple-
  instance learning) lets a clip label train chunk-level curves: the chunks that carry
  the emotion get the weight, silence and neutral stretches do not.
- Dilated convolutions over the chunk sequence give each chunk its neighbours' context,
  3.75 s either side and no further (emotion in speech is not uniform, but it is not
  independent chunk to chunk either, and a curve at minute 10 must not depend on
  minute 1).
- Each modality predicts in the same label space first (label matching), then the
  probabilities are mixed (a linear opinion pool) with weights learned on development
  data, each scaled by how reliable the modality is in that chunk (how much of the
  window had a face, or a trusted transcript). A silent video, an audio-only clip or a
  missing transcript just drops out of the mixture; nothing has to be imputed. A
  mixture cannot be vetoed: a modality at weight w puts at least w times its own
  probability on an emotion, whatever the others say.

Example::

    >>> import torch
    >>> model = ChunkEmotionModel(ChunkModelConfig(audio_dim=16, hidden=8)).eval()
    >>> out = model(ModelInputs.of(audio=torch.randn(1, 5, 16)))
    >>> out.chunk_log_probs.shape, out.clip_log_probs.shape
    (torch.Size([1, 5, 7]), torch.Size([1, 7]))
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from emostudio.core.labels import BASIC, COMPOUND, DIMENSIONS, LABELS, LabelSpace, avd_prototype, class_matching
from emostudio.core.timegrid import CHUNKS, SlidingWindow


@dataclass
class ChunkModelConfig:
    """Hyper-parameters, saved as ``config.json`` beside the weights, with the label space
    the model predicts in and the chunk grid it was trained on."""

    audio_dim: int = 0
    audio_extractors: tuple[str, ...] = ()
    text_extractor: str = "text-use-m3"
    """The sentence encoder the text head reads (``emostudio.features.text``)."""
    text_dim: int = 512
    hidden: int = 128
    dropout: float = 0.3
    input_dropout: float = 0.1
    context: str = "dilated-conv"
    """How a chunk sees its neighbours: "dilated-conv" (residual dilated convolutions,
    about 3.75 s either side, so a curve at minute 10 never depends on minute 1) or "gru"
    (a bidirectional GRU over the whole media: models trained before it was bounded)."""
    avd: str = "classes"
    """Where arousal / valence / dominance come from: "classes" (the A/V/D expected under
    the chunk's fused class probabilities, plus a learned correction that starts at zero
    and only moves where people rated the dimensions), or "regression" (a head of its own:
    models saved before; on unseen speech it drifted to the training mean, valence
    negative for every class)."""
    fusion: str = "linear"
    """How the modalities combine: "linear" (a mixture of their probabilities, each weighed
    by its learned share times its reliability in the chunk: no modality can veto
    another) or "log-linear" (a weighted product: models saved before; one modality
    near zero on an emotion wiped it out whatever the others said)."""
    audio_temperature: float = 1.0
    """Audio logits are divided by it: chosen on development speakers so the audio
    branch's probabilities are calibrated (``trainers.supervised.fit_temperature``)."""
    face_classes: tuple[str, ...] = BASIC
    """The face extractor's classes, in the order of its probabilities: matched to
    ``labels`` by name (``class_matching``), so a label space of other classes, or in
    another order, still reads the face."""
    align_dim: int = 0
    """Size of the space the audio and face chunks are aligned in (``trainers.align``);
    0: no alignment (every model before it)."""
    face_embedding_dim: int = 0
    """Width of the face embedding inputs the alignment reads (the face extractor's
    embedding and the share of the window with a face); 0: it reads the face's class
    probabilities instead."""
    labels: LabelSpace = LABELS
    grid: SlidingWindow = CHUNKS
    compound_trained: bool = False
    metrics: dict = field(default_factory=dict)

    def to_json(self) -> str:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["labels"], data["grid"] = self.labels.to_json(), self.grid.to_json()
        data["audio_extractors"] = list(self.audio_extractors)
        data["face_classes"] = list(self.face_classes)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ChunkModelConfig:
        data = json.loads(text)
        # configs written before the label space and the grid had their own records
        old = {k: data.pop(k) for k in ("classes", "compound", "dimensions", "hop", "scales", "face_fps") if k in data}
        labels = data.pop("labels", None) or {
            "basic": old.get("classes", BASIC),
            "compound": old.get("compound", COMPOUND),
            "dimensions": old.get("dimensions", DIMENSIONS),
        }
        grid = data.pop("grid", None) or {
            "step": old.get("hop", CHUNKS.step),
            "scales": old.get("scales", CHUNKS.scales),
        }
        data["audio_extractors"] = tuple(data.get("audio_extractors", ()))
        data["face_classes"] = tuple(data.get("face_classes", BASIC))
        data.setdefault("context", "gru")  # written before the context was bounded
        data.setdefault("avd", "regression")  # ... and before A/V/D followed the classes
        data.setdefault("fusion", "log-linear")  # ... and before fusion became a mixture
        data.setdefault("text_extractor", "text-minilm")  # ... and before the text could be multilingual
        data.setdefault("text_dim", 384)
        return cls(**data, labels=LabelSpace.from_json(labels), grid=SlidingWindow.from_json(grid))


@dataclass
class ModelInputs:
    """Padded batch: ``[B, T, dim]`` per modality and ``[B, T]`` masks (``None`` = absent)."""

    audio: torch.Tensor | None = None
    face: torch.Tensor | None = None
    face_mask: torch.Tensor | None = None
    text: torch.Tensor | None = None
    text_mask: torch.Tensor | None = None
    face_embedding: torch.Tensor | None = None  # [B, T, E] for models that align voice and face
    chunk_mask: torch.Tensor | None = None  # False on padding
    audio_mask: torch.Tensor | None = None  # False where the audio track has ended (or not begun)

    def to(self, device) -> ModelInputs:
        return ModelInputs(
            **{f: None if getattr(self, f) is None else getattr(self, f).to(device) for f in self.__dataclass_fields__}
        )

    @classmethod
    def of(cls, **kwargs) -> "ModelInputs":
        inputs = cls(**kwargs)
        ref = next(x for x in (inputs.audio, inputs.face, inputs.text) if x is not None)
        if inputs.chunk_mask is None:
            inputs.chunk_mask = torch.ones(ref.shape[:2], dtype=torch.bool, device=ref.device)
        for name in ("audio", "face", "text"):
            if getattr(inputs, name) is not None and getattr(inputs, f"{name}_mask") is None:
                setattr(inputs, f"{name}_mask", torch.ones(ref.shape[:2], dtype=torch.bool, device=ref.device))
        return inputs


@dataclass
class ModelOutputs:
    chunk_log_probs: torch.Tensor  # [B, T, C] fused
    chunk_avd: torch.Tensor  # [B, T, 3]
    chunk_weights: torch.Tensor  # [B, T] pooling weights, sum to 1 over valid chunks
    clip_log_probs: torch.Tensor  # [B, C] fused
    clip_avd: torch.Tensor  # [B, 3]
    modality_chunk_logits: dict[str, torch.Tensor]  # per modality [B, T, C]
    modality_clip_logits: dict[str, torch.Tensor]  # per modality [B, C]
    modality_weights: torch.Tensor  # [B, T, 3] share of audio / face / text in each chunk's fusion
    chunk_compound: torch.Tensor | None = None  # [B, T, K] learned head (sigmoid), when trained
    clip_modality_weights: torch.Tensor | None = None  # [B, 3] each modality's weight in the clip's fusion
    aligned: dict[str, torch.Tensor] | None = None  # audio / face chunk embeddings [B, T, d], unit length
    align_logits: torch.Tensor | None = None  # [B, C] the aligned space's classifier on the voice
    same_label_logits: torch.Tensor | None = None  # [B, B] voice of clip i and face of clip j carry one emotion

    def to(self, device) -> ModelOutputs:
        def move(x):
            if isinstance(x, dict):
                return {k: move(v) for k, v in x.items()}
            return None if x is None else x.to(device)

        return ModelOutputs(**{f: move(getattr(self, f)) for f in self.__dataclass_fields__})


@dataclass
class ChunkOutputs:
    """Everything per chunk, before pooling over the clip. Long media are run a block at a
    time; their blocks' ``ChunkOutputs`` are joined (``concat``) and pooled once, so the
    clip-level prediction weighs every chunk of the media as a single pass would."""

    logits: dict[str, torch.Tensor]  # per modality [B, T, C]
    masks: dict[str, torch.Tensor]  # per modality [B, T], 1 where the modality had input
    score: torch.Tensor  # [B, T] attention score (before the softmax over the clip)
    chunk_mask: torch.Tensor  # [B, T]
    chunk_log_probs: torch.Tensor
    chunk_avd: torch.Tensor
    modality_weights: torch.Tensor
    chunk_compound: torch.Tensor | None = None
    reliability: dict[str, torch.Tensor] | None = None  # per modality [B, T] in [0, 1]
    aligned: dict[str, torch.Tensor] | None = None  # audio / face chunk embeddings [B, T, d] (aligned models)

    def _map(self, fn) -> "ChunkOutputs":
        def apply(x):
            if isinstance(x, dict):
                return {m: fn(v) for m, v in x.items()}
            return None if x is None else fn(x)

        return ChunkOutputs(**{f: apply(getattr(self, f)) for f in self.__dataclass_fields__})

    @staticmethod
    def concat(parts: list["ChunkOutputs"]) -> "ChunkOutputs":
        def cat(xs):
            if isinstance(xs[0], dict):
                return {m: torch.cat([x[m] for x in xs], dim=1) for m in xs[0]}
            return None if xs[0] is None else torch.cat(xs, dim=1)

        return ChunkOutputs(**{f: cat([getattr(p, f) for p in parts]) for f in ChunkOutputs.__dataclass_fields__})

    def to(self, device) -> ChunkOutputs:
        """The same outputs on ``device`` (the model may run on a GPU; pooling and NumPy on the CPU)."""
        return self._map(lambda x: x.to(device))

    def select(self, index: torch.Tensor) -> "ChunkOutputs":
        """The chunks at ``index`` (along time)."""
        return self._map(lambda x: x[:, index])


MODALITIES = ("audio", "face", "text")


def face_scales(face: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Face inputs ``[B, T, scales * (C + 1)]`` (``C``: the face model's classes) as
    ``[B, T, scales, C + 1]``: per scale, the class probabilities and the share of the
    window that had a face."""
    return face.view(*face.shape[:-1], face.shape[-1] // (n_classes + 1), n_classes + 1)


def face_coverage(face: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``[B, T]``: the share of each chunk's windows that had a face, averaged over scales."""
    return face_scales(face, n_classes)[..., n_classes].mean(-1).clamp(0.0, 1.0)


def clip_embedding(z: torch.Tensor, chunks: torch.Tensor) -> torch.Tensor:
    """``[B, d]``: the mean of chunk embeddings ``z [B, T, d]`` over ``chunks [B, T]``, unit length."""
    w = chunks.float()[..., None]
    return F.normalize((z * w).sum(1) / w.sum(1).clamp(min=1.0), dim=-1)


def fuse(weights: torch.Tensor, log_probs: torch.Tensor, fusion: str = "linear") -> torch.Tensor:
    """Fused log-probabilities ``[..., C]`` from modality weights ``[..., M]`` (summing to 1,
    or all 0) and their log-probabilities ``[..., M, C]``: the mixture ("linear"), or the
    weighted product ("log-linear", how models saved before fused)."""
    w = weights[..., None]
    if fusion == "linear":
        return F.log_softmax(torch.log((w * log_probs.exp()).sum(-2).clamp(min=1e-12)), -1)
    return F.log_softmax((w * log_probs).sum(-2), -1)


class DilatedContext(nn.Module):
    """Residual 1-D convolutions over the chunk sequence with dilations 1, 2, 4 and 8
    (kernel 3): each chunk sees 15 chunks (3.75 s) either side and nothing further.
    Padding chunks are zeroed before every layer so they never leak in."""

    DILATIONS = (1, 2, 4, 8)

    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Conv1d(hidden, hidden, kernel_size=3, dilation=d, padding=d) for d in self.DILATIONS
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, chunk_mask: torch.Tensor) -> torch.Tensor:
        keep = chunk_mask[:, None, :].to(x.dtype)
        y = x.transpose(1, 2)
        for conv in self.layers:
            y = y + self.dropout(F.gelu(conv(y * keep)))
        return (y * keep).transpose(1, 2)


class ChunkEmotionModel(nn.Module):
    def __init__(self, config: ChunkModelConfig):
        super().__init__()
        self.config = config
        c, h, n = config, config.hidden, len(config.labels.basic)
        # standardisation of audio inputs, set from training data (see ``fit_normalizer``)
        self.register_buffer("audio_mean", torch.zeros(max(c.audio_dim, 1)))
        self.register_buffer("audio_std", torch.ones(max(c.audio_dim, 1)))
        self.audio_in = nn.Sequential(
            nn.Dropout(c.input_dropout), nn.Linear(max(c.audio_dim, 1), h), nn.GELU(), nn.Dropout(c.dropout)
        )
        if c.context == "gru":
            self.audio_context = nn.GRU(h, h // 2, batch_first=True, bidirectional=True)
        else:
            self.audio_context = DilatedContext(h, c.dropout)
        self.audio_norm = nn.LayerNorm(h)
        self.audio_head = nn.Linear(h, n)
        self.avd_head = nn.Linear(h, len(c.labels.dimensions))
        if c.avd == "classes":  # the correction starts at zero: A/V/D follow the classes
            nn.init.zeros_(self.avd_head.weight)
            nn.init.zeros_(self.avd_head.bias)
        self.attention = nn.Sequential(nn.Linear(h, h // 2), nn.Tanh(), nn.Linear(h // 2, 1))
        self.compound_head = nn.Linear(h, len(c.labels.compound))
        # face: the face model's probabilities, matched to the label space by class name; a
        # per-class affine map of their log lets training recalibrate them (starts as the identity)
        self.face_scale = nn.Parameter(torch.ones(n))
        self.face_bias = nn.Parameter(torch.zeros(n))
        # the face model's classes as the label space's (computed from the config, not saved)
        matching = torch.tensor(class_matching(c.face_classes, c.labels.basic), dtype=torch.float32)
        self.register_buffer("face_matching", matching, persistent=False)
        if c.align_dim:  # audio-visual alignment (``trainers.align``)
            d = c.align_dim
            face_in = c.face_embedding_dim or len(c.grid.scales) * (len(c.face_classes) + 1)
            self.audio_align = nn.Linear(h, d)
            self.face_align = nn.Sequential(nn.Linear(face_in, h), nn.GELU(), nn.Linear(h, d))
            # one classifier over the aligned space: the face reads emotions where the voice
            # taught it; it starts at zero, so an aligned model first predicts as its parent
            self.align_head = nn.Linear(d, n)
            nn.init.zeros_(self.align_head.weight)
            nn.init.zeros_(self.align_head.bias)
            # same emotion or not: the cosine of the two embeddings (scaled), corrected by a
            # small network over the pair that starts at zero
            self.pair_scale = nn.Parameter(torch.tensor([5.0, 0.0]))
            self.pair_head = nn.Sequential(nn.Linear(4 * d, d), nn.GELU(), nn.Linear(d, 1))
            nn.init.zeros_(self.pair_head[-1].weight)
        self.text_head = nn.Sequential(nn.Linear(c.text_dim, h), nn.GELU(), nn.Dropout(c.dropout), nn.Linear(h, n))
        self.fusion_logits = nn.Parameter(torch.zeros(len(MODALITIES)))
        self.register_buffer("prototypes", torch.tensor([avd_prototype(k) for k in c.labels.basic]))

    # -- branches ----------------------------------------------------------------

    def encode_audio(
        self, audio: torch.Tensor, chunk_mask: torch.Tensor, present: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``present`` (default: ``chunk_mask``) marks chunks with audio; the others enter the
        recurrent context as zeros, like padding."""
        x = (audio - self.audio_mean) / self.audio_std
        x = self.audio_in(x) * (chunk_mask if present is None else present)[..., None]
        if isinstance(self.audio_context, DilatedContext):
            return self.audio_norm(self.audio_context(x, chunk_mask))  # residual inside
        lengths = chunk_mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        context, _ = self.audio_context(packed)
        context, _ = nn.utils.rnn.pad_packed_sequence(context, batch_first=True, total_length=x.shape[1])
        return self.audio_norm(x + context)

    def face_logits(self, face: torch.Tensor) -> torch.Tensor:
        n = len(self.config.face_classes)
        parts = face_scales(face, n)
        # weight each scale's probabilities by how much of its window had a face
        weights = parts[..., n:]
        probs = (parts[..., :n] * weights).sum(-2) / weights.sum(-2).clamp(min=1e-6)
        probs = probs @ self.face_matching  # in the label space; renormalised over the classes it has
        probs = probs / probs.sum(-1, keepdim=True).clamp(min=1e-6)
        return torch.log(probs.clamp(min=1e-4)) * self.face_scale + self.face_bias

    def same_label_logit(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        """``[...]``: the logit that an audio and a face embedding (aligned, ``[..., d]``)
        carry the same emotion (the alignment's auxiliary task)."""
        cosine = (audio * face).sum(-1)
        a, f = audio * audio.shape[-1] ** 0.5, face * face.shape[-1] ** 0.5  # unit vectors: components near 1
        correction = self.pair_head(torch.cat([a, f, (a - f).abs(), a * f], -1))[..., 0]
        return self.pair_scale[0] * cosine + self.pair_scale[1] + correction

    # -- forward -------------------------------------------------------------------

    def forward(self, inputs: ModelInputs) -> ModelOutputs:
        return self.pool(self.chunk_outputs(inputs))

    def chunk_outputs(self, inputs: ModelInputs) -> ChunkOutputs:
        chunk_mask = inputs.chunk_mask
        valid = chunk_mask.float()
        logits: dict[str, torch.Tensor] = {}
        masks: dict[str, torch.Tensor] = {}
        reliability: dict[str, torch.Tensor] = {}
        score = torch.zeros_like(valid)
        compound = None
        avd = None
        aligned: dict[str, torch.Tensor] | None = {} if self.config.align_dim else None
        if inputs.audio is not None:
            has_audio = inputs.audio_mask & chunk_mask
            emb = self.encode_audio(inputs.audio, chunk_mask, has_audio)
            logits["audio"], masks["audio"] = self.audio_head(emb) / self.config.audio_temperature, has_audio.float()
            reliability["audio"] = masks["audio"]
            score = self.attention(emb)[..., 0]
            avd = torch.tanh(self.avd_head(emb))
            compound = torch.sigmoid(self.compound_head(emb))
            if aligned is not None:
                aligned["audio"] = F.normalize(self.audio_align(emb), dim=-1)
        if inputs.face is not None:
            logits["face"], masks["face"] = self.face_logits(inputs.face), inputs.face_mask.float() * valid
            reliability["face"] = face_coverage(inputs.face, len(self.config.face_classes)) * masks["face"]
            seen = inputs.face_embedding if self.config.face_embedding_dim else inputs.face
            if aligned is not None and seen is not None:
                aligned["face"] = F.normalize(self.face_align(seen), dim=-1)
                logits["face"] = logits["face"] + self.align_head(aligned["face"])
        if inputs.text is not None:
            logits["text"], masks["text"] = self.text_head(inputs.text[..., :-1]), inputs.text_mask.float() * valid
            reliability["text"] = inputs.text[..., -1].clamp(0.0, 1.0) * masks["text"]

        weighed = reliability if self.config.fusion == "linear" else masks
        modality_weights = self._shares(weighed, valid)
        chunk_lp = self._fuse(logits, modality_weights)
        expected_avd = chunk_lp.exp() @ self.prototypes  # from the category mix
        if avd is not None and self.config.avd == "classes":
            avd = (expected_avd + 0.5 * avd).clamp(-1.0, 1.0)
        chunk_avd = expected_avd if avd is None else torch.where(masks["audio"][..., None] > 0, avd, expected_avd)
        return ChunkOutputs(
            logits, masks, score, chunk_mask, chunk_lp, chunk_avd, modality_weights, compound, reliability, aligned
        )

    def _shares(self, weighed: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        """``[..., 3]``: each modality's learned share times ``weighed`` (its reliability or
        presence), normalised over the modalities present; all zero where none is."""
        share = torch.softmax(self.fusion_logits, 0)
        present = torch.stack([weighed.get(m, torch.zeros_like(like)) for m in MODALITIES], -1) * share
        return present / present.sum(-1, keepdim=True).clamp(min=1e-9)

    def _fuse(self, logits: dict[str, torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
        """Fused log-probabilities from each modality's logits and its weight ``[..., 3]``."""
        index = [i for i, m in enumerate(MODALITIES) if m in logits]
        log_probs = torch.stack([F.log_softmax(logits[MODALITIES[i]], -1) for i in index], -2)
        return fuse(weights[..., index], log_probs, self.config.fusion)

    def pool(self, c: ChunkOutputs) -> ModelOutputs:
        """Clip-level outputs: attention pooling (learned from audio, uniform over the chunks
        the other modalities cover) of each modality's chunk logits, then late fusion, each
        modality weighed by its mean reliability over the clip (for a linear fusion) or by
        whether it was there at all (log-linear)."""
        chunk_mask, masks, logits = c.chunk_mask, c.masks, c.logits
        valid = chunk_mask.float()
        weights = torch.softmax(c.score.masked_fill(~chunk_mask, float("-inf")), dim=1)
        clip_logits = {}
        for m, lg in logits.items():
            w = weights * masks[m]
            w = w / w.sum(1, keepdim=True).clamp(min=1e-9)
            clip_logits[m] = (w[..., None] * lg).sum(1)
        if self.config.fusion == "linear":
            n_valid = valid.sum(1).clamp(min=1.0)
            weighed = {m: (r * valid).sum(1) / n_valid for m, r in c.reliability.items()}
        else:
            weighed = {m: (mask.sum(1) > 0).float() for m, mask in masks.items()}
        clip_share = self._shares(weighed, valid[:, 0])
        clip_lp = self._fuse(clip_logits, clip_share)
        clip_avd = (weights[..., None] * c.chunk_avd).sum(1)
        align_logits = same_label = None
        if c.aligned and "audio" in c.aligned:
            heard = weights * masks["audio"]  # as the audio branch pools: chunks with sound only
            heard = heard / heard.sum(1, keepdim=True).clamp(min=1e-9)
            align_logits = self.align_head((heard[..., None] * c.aligned["audio"]).sum(1))
            if "face" in c.aligned:
                both = (masks["audio"] > 0) & (masks["face"] > 0)
                a, f = clip_embedding(c.aligned["audio"], both), clip_embedding(c.aligned["face"], both)
                n = len(a)
                same_label = self.same_label_logit(a[:, None].expand(n, n, -1), f[None].expand(n, n, -1))
        return ModelOutputs(
            c.chunk_log_probs,
            c.chunk_avd,
            weights,
            clip_lp,
            clip_avd,
            logits,
            clip_logits,
            c.modality_weights,
            c.chunk_compound,
            clip_share,
            c.aligned,
            align_logits,
            same_label,
        )

    # -- normalisation ---------------------------------------------------------------

    @torch.no_grad()
    def fit_normalizer(self, audio_chunks: torch.Tensor) -> None:
        """Standardise audio inputs with the training chunks' mean and deviation."""
        self.audio_mean.copy_(audio_chunks.mean(0))
        self.audio_std.copy_(audio_chunks.std(0).clamp(min=1e-3))


def compound_scores(
    probs: torch.Tensor, learned: torch.Tensor | None = None, labels: LabelSpace = LABELS
) -> torch.Tensor:
    """Compound-emotion scores ``[..., K]`` from basic probabilities ``[..., C]`` of ``labels``.

    Co-activation: the geometric mean of the pair's probabilities (high only when both
    are), averaged with the learned compound head once compound labels trained it.
    """
    pairs = torch.tensor(labels.compound_pairs(), dtype=torch.long, device=probs.device).reshape(-1, 2)
    co = torch.sqrt(probs[..., pairs[:, 0]] * probs[..., pairs[:, 1]])
    return co if learned is None else (co + learned) / 2


# -- persistence -----------------------------------------------------------------------

WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"


def save_model(model: ChunkEmotionModel, folder: str | Path) -> Path:
    """Weights as safetensors, config (with label space and metrics) as JSON: no pickles."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(folder / WEIGHTS_FILE))
    (folder / CONFIG_FILE).write_text(model.config.to_json())
    return folder


def load_model(folder: str | Path) -> ChunkEmotionModel:
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: missing (a model folder holds {WEIGHTS_FILE} and {CONFIG_FILE})")
    model = ChunkEmotionModel(ChunkModelConfig.from_json((folder / CONFIG_FILE).read_text()))
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    return model.eval()


def default_model_path() -> Path:
    """The default model shipped inside the package."""
    return Path(__file__).parent / "default"
