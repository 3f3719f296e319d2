"""Audio-visual alignment: the worker job behind the Train page's "align voice and face"
and ``emostudio train align``.

Where a media has both a voice and a face, the two are aligned before they are fused:

- each chunk's audio embedding (from the audio branch, which does not move) and face
  embedding (a small network over the face model's own 128-number embedding of the face,
  ``face-fer2013-embedding``) are projected into one space and pulled together
  contrastively: the same moment, or two clips people gave the same emotion, close;
  other clips apart (other moments of the same clip are neither: emotion drifts inside
  a clip; two labelled spans of one media are two clips here);
- an auxiliary head learns whether an audio / face pair carries the same emotion;
- one classifier reads the aligned space: trained on the voice wherever the labels are
  (audio-only media too), it then reads the face, and its logits join the face model's
  own (matched to the label space by name, ``class_matching``) before the fusion.

Unlabelled media with a voice and a face align by time alone, so the library's own
videos teach the face what the voice hears. The new version is measured as every
training job's is: beside its parent on the held-out media, fused where they have a face.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch
import torch.nn.functional as F

from emostudio.core.domain import ALIGN_JOB, Job
from emostudio.core.errors import StudioError
from emostudio.db.repository import Repository
from emostudio.features.face import FaceEmbedding
from emostudio.model.network import ChunkEmotionModel, ModelOutputs, clip_embedding
from emostudio.services.training import AlignOptions
from emostudio.trainers.finetune import MediaReader, TrainingRun
from emostudio.trainers.labelled import group_of
from emostudio.trainers.supervised import ClipTargets, TrainConfig, TrainItem, collate
from emostudio.trainers.worker import register

ALIGNED = ("audio_align", "face_align", "align_head", "pair_", "face_scale", "face_bias")
"""What alignment trains; the audio branch, the text head and the fusion shares stay as they are."""
MAX_CHUNKS = 512  # chunks per contrastive batch: the similarity matrix stays small
MEASURED = 256  # media the alignment measures look at (the first ones)


def with_alignment(
    model: ChunkEmotionModel, dim: int, face_embedding: int = FaceEmbedding.dim, seed: int = 0
) -> ChunkEmotionModel:
    """``model`` with alignment modules (new, ``dim`` wide, reading the face's embedding
    of ``face_embedding`` numbers, or its class probabilities when 0) and its own
    weights; a model that has them already is returned as it is. It predicts as
    ``model`` until trained."""
    if model.config.align_dim:
        return model
    with torch.random.fork_rng():  # the new modules start the same in every run
        torch.manual_seed(seed)
        aligned = ChunkEmotionModel(replace(model.config, align_dim=dim, face_embedding_dim=face_embedding, metrics={}))
    _, unexpected = aligned.load_state_dict(model.state_dict(), strict=False)
    if unexpected:
        raise StudioError(f"the model has weights alignment does not know: {', '.join(unexpected)}")
    return aligned.eval()


def voice_and_face(out: ModelOutputs) -> torch.Tensor:
    """``[B, T]``: the chunks the fusion heard a voice and saw a face in."""
    return (out.modality_weights[..., 0] > 0) & (out.modality_weights[..., 1] > 0)


def contrastive_loss(
    audio: torch.Tensor,
    face: torch.Tensor,
    both: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE between audio and face chunk embeddings (``[B, T, d]``, unit
    length) over the chunks with ``both``. Positives: the same chunk, and chunks of other
    rows (clips) with the same known label (``labels [B]``, -100 unknown); other chunks of
    the same row are left out of the comparison."""
    index = both.nonzero()
    if len(index) > MAX_CHUNKS:
        index = index[torch.randperm(len(index), generator=generator)[:MAX_CHUNKS].to(index.device)]
    if len(index) < 2:
        return audio.sum() * 0.0  # nothing to compare; keeps the graph the same on every process
    a, f = audio[index[:, 0], index[:, 1]].float(), face[index[:, 0], index[:, 1]].float()
    media, label = index[:, 0], labels[index[:, 0]]
    same_media = media[:, None] == media[None, :]
    moment = torch.eye(len(index), dtype=torch.bool, device=a.device)
    positive = moment | ((label[:, None] == label[None, :]) & (label[:, None] >= 0) & ~same_media)
    similarity = (a @ f.T / temperature).masked_fill(same_media & ~moment, float("-inf"))
    audio_to_face = F.log_softmax(similarity, 1).masked_fill(~positive, 0.0).sum(1) / positive.sum(1)
    face_to_audio = F.log_softmax(similarity, 0).masked_fill(~positive, 0.0).sum(0) / positive.sum(0)
    return -(audio_to_face.mean() + face_to_audio.mean()) / 2


def same_label_targets(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, B]`` targets of "the voice of media i and the face of media j carry the same
    emotion", and where they are known: i = j always (one moment, one person), else where
    both media are labelled."""
    known = labels >= 0
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return ((labels[:, None] == labels[None, :]) | eye).float(), eye | (known[:, None] & known[None, :])


def same_label_loss(logits: torch.Tensor, has_both: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The auxiliary task over every voice / face pairing of the batch's media with both
    (``has_both [B]``): binary cross-entropy, positives and negatives weighed equally."""
    target, known = same_label_targets(labels)
    known = known & has_both[:, None] & has_both[None, :]
    bce = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    parts = [bce[known & (target == v)].mean() for v in (0.0, 1.0) if (known & (target == v)).any()]
    return sum(parts) / len(parts) if parts else logits.sum() * 0.0


def alignment_objective(options: AlignOptions):
    """The alignment job's loss for ``train_audio``: the fused clip prediction and the
    shared classifier on the voice (labelled media), the contrastive loss and the
    same-emotion task (media with a voice and a face, labelled or not)."""

    def objective(out: ModelOutputs, t: ClipTargets, class_weight: torch.Tensor, train: TrainConfig):
        labelled = (t.labels >= 0).float() * t.weights
        target = t.labels.clamp(min=0)

        def labelled_mean(x: torch.Tensor) -> torch.Tensor:
            return (x * labelled).sum() / labelled.sum().clamp(min=1e-6)

        fused = F.nll_loss(out.clip_log_probs.float(), target, weight=class_weight, reduction="none")
        shared = F.cross_entropy(out.align_logits.float(), target, weight=class_weight, reduction="none")
        loss = labelled_mean(fused) + labelled_mean(shared)
        if out.same_label_logits is None:  # a batch without faces
            return loss
        both = voice_and_face(out)
        audio, face = out.aligned["audio"], out.aligned["face"]
        loss = loss + options.contrastive * contrastive_loss(audio, face, both, t.labels, options.temperature)
        return loss + options.same_label * same_label_loss(out.same_label_logits, both.any(1), t.labels)

    return objective


@torch.inference_mode()
def alignment_measures(model: ChunkEmotionModel, items: list[TrainItem]) -> dict:
    """How aligned the voice and the face of ``items`` are: for each media's face (its
    mean embedding), the rank of its own voice among all the media's voices (1: the
    nearest); and the same-emotion head's mean probability on a media's own voice and
    face, and on another media's."""
    with_face = [it for it in items if it.face is not None and it.face.any()][:MEASURED]
    if len(with_face) < 2 or not model.config.align_dim:
        return {}
    inputs, _ = collate(with_face, max_chunks=64, rng=random.Random(0))  # bounded memory for long videos
    out = model.eval()(inputs)
    both = voice_and_face(out)
    a, f = clip_embedding(out.aligned["audio"], both), clip_embedding(out.aligned["face"], both)
    similarity = f @ a.T
    ranks = (similarity > similarity.diagonal()[:, None]).sum(1) + 1
    p = torch.sigmoid(out.same_label_logits)
    eye = torch.eye(len(with_face), dtype=torch.bool)
    return {
        "media": len(with_face),
        "voice_rank_of_face": round(float(ranks.float().mean()), 3),
        "same_emotion_own": round(float(p[eye].mean()), 3),
        "same_emotion_other": round(float(p[~eye].mean()), 3),
    }


@register(ALIGN_JOB)
def align_job(repo: Repository, job: Job, hook) -> str | None:
    """Align voice and face, measure on the held-out media (fused), register; returns the new version's id."""
    options = AlignOptions.from_config(job.config)
    parent_dims = []  # the parent's alignment width (0: not aligned)

    def prepare(model: ChunkEmotionModel) -> ChunkEmotionModel:
        parent_dims.append(model.config.align_dim)
        return with_alignment(model, options.dim)

    run = TrainingRun.start(repo, job, hook, options, faces=True, prepare=prepare)
    if parent_dims[0]:
        hook(job.kind, message=f"the parent is aligned already ({parent_dims[0]} numbers wide): going on from it")
    # the library's other videos: unlabelled, they align by time
    videos = run.read_rest(
        MediaReader(repo, run.model.config, faces=True), lambda m: m.info.has_audio and m.info.has_video
    )
    unlabelled, unlabelled_ids = [], []
    for media, (audio, _, face) in videos:
        if face is not None and face.face.any():  # None: its picture could not be read
            item = TrainItem(audio, -100, (0.0, 0.0, 0.0), group=group_of(media), face=face.face)
            unlabelled.append(replace(item, face_embedding=face.face_embedding))
            unlabelled_ids.append(media.id)
    items = [*run.data.train, *unlabelled]
    with_face = sum(it.face is not None and bool(it.face.any()) for it in items)
    if not with_face:
        raise StudioError(
            "alignment needs media with both a voice and a face on the training side; "
            "there are none (no video, or the face model found no face in them)"
        )
    hook(
        job.kind,
        message=f"aligning voice and face on {with_face} media with both ({len(unlabelled)} of them unlabelled); "
        f"{len(run.data.train)} labelled spans train the shared classifier; "
        f"{len(run.data.heldout)} held-out spans measure it",
    )
    config = TrainConfig(epochs=options.epochs, lr=options.lr, seed=options.seed, sequence_share=0.0)
    objective = alignment_objective(options)
    trained = run.train(items, config, run.model, objective=objective, trains=ALIGNED)
    extra = {
        "aligned_media": with_face,
        "unlabelled_media": len(unlabelled),
        "alignment": {
            "train": alignment_measures(trained, items),
            "heldout": alignment_measures(trained, run.data.heldout),
        },
    }
    run.data = replace(run.data, media_ids=sorted({*run.data.media_ids, *unlabelled_ids}))
    return run.finish(trained, extra)
