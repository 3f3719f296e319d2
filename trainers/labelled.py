"""What the studio's labels teach: the gold spans (``emostudio.services.gold``) as
training items, the held-out split, and how a version scores on the held-out media."""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

import numpy as np

from emostudio.core.domain import Media
from emostudio.core.errors import StudioError
from emostudio.core.labels import DIMENSIONS, LabelSpace, avd_prototype
from emostudio.model.chunk_inputs import build_chunk_inputs
from emostudio.model.network import ChunkEmotionModel
from emostudio.services.gold import LabelledSpan
from emostudio.trainers.supervised import TrainItem, expected_calibration_error, predict_clips


def _unit(name: str) -> float:
    """A fixed number in [0, 1) for a name: which side of the split it falls on."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 2**32


def held_out_groups(groups: Iterable[str], share: float = 0.2, keep: Iterable[str] = ()) -> set[str]:
    """The groups (speakers, else media) kept out of training to measure a new version.

    A group's side is a fixed function of its name, so it is held out in every run; the
    parent version's held-out groups stay held out (``keep``), so parent and child are
    compared on media neither learned from. With two groups or more, each side gets one.
    """
    groups = sorted(set(groups))
    out = {g for g in groups if _unit(g) < share} | (set(keep) & set(groups))
    if len(groups) >= 2:
        if not out:
            out = {min(groups, key=_unit)}
        if out == set(groups):
            out.discard(max(out, key=_unit))
    return out


def group_of(media: Media) -> str:
    """The unit of the held-out split: the speaker when known, else the media itself."""
    return f"speaker:{media.speaker}" if media.speaker else f"media:{media.id}"


def span_item(audio: np.ndarray, chunks, span: LabelledSpan, labels: LabelSpace, group: str, face=None) -> TrainItem:
    """The training item for ``span``: the chunks centred inside it (the nearest one when
    it is shorter than a chunk), with their face inputs when given (``ChunkInputs``), its
    class, its compound and its dimensions."""
    centres = np.array([c.center for c in chunks])
    if span.start is None:
        inside = np.arange(len(chunks))
    else:
        inside = np.flatnonzero((centres >= span.start) & (centres < span.end))
        if not len(inside):
            inside = np.array([int(np.abs(centres - (span.start + span.duration / 2)).argmin())])
    label, compound, prototype = -100, None, (0.0, 0.0, 0.0)
    if span.label in labels.basic:
        label, prototype = labels.index(span.label), avd_prototype(span.label)
    elif span.label in labels.compound:  # the mean of its two emotions' prototypes
        compound = labels.compound.index(span.label)
        pair = [avd_prototype(labels.basic[i]) for i in labels.compound_pairs()[compound]]
        prototype = tuple(float(v) for v in np.mean(pair, axis=0))
    known = tuple(v is not None or span.label is not None for v in span.avd)
    avd = tuple(float(p if v is None else v) for v, p in zip(span.avd, prototype))
    return TrainItem(
        np.ascontiguousarray(audio[inside]),
        label,
        avd,
        compound=compound,
        group=group,
        avd_known=known,
        face=None if face is None else np.ascontiguousarray(face.face[inside]),
        face_embedding=None if face is None or face.face_embedding is None else face.face_embedding[inside],
    )


def media_audio_inputs(media: Media, extractors, cache, grid) -> tuple[np.ndarray, list]:
    """A media's audio chunk inputs ``[n_chunks, D]`` and its chunks (features from the cache)."""
    from emostudio.services.analysis import audio_features

    if not media.info.has_audio:
        raise StudioError(f"{media.name}: has no audio track")
    chunks = grid.chunks(media.duration)
    inputs = build_chunk_inputs(chunks, audio=audio_features(media, extractors, cache))
    return inputs.audio, chunks


def concordance(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient (audmetric's)."""
    import audmetric

    return float(audmetric.concordance_cc(y, x))


def rated_dimensions(spans: Sequence[LabelledSpan]) -> np.ndarray:
    """``[n, 3]``: which dimensions people rated on each span (not filled in from its class)."""
    return np.array([[v is not None for v in s.avd] for s in spans], bool).reshape(-1, len(DIMENSIONS))


def heldout_metrics(
    model: ChunkEmotionModel, items: Sequence[TrainItem], rated: np.ndarray | None = None, full: bool = True
) -> dict:
    """How ``model`` scores on held-out ``items``: UAR, WA and macro-F1 over the classes
    people gave, and with ``full`` the confusion matrix, the calibration (ECE and
    reliability bins) and the CCC of each dimension people ``rated`` (``[n, 3]``; absent
    when fewer than two spans have it)."""
    from sklearn.metrics import confusion_matrix, f1_score, recall_score

    classes = model.config.labels.basic
    probs, avd = predict_clips(model, items)
    has = np.array([it.label >= 0 for it in items], bool)
    out: dict = {"n": int(has.sum())}
    if has.any():
        y, pred = np.array([it.label for it in items])[has], probs[has].argmax(1)
        present = sorted(set(y.tolist()))
        out["uar"] = float(recall_score(y, pred, labels=present, average="macro", zero_division=0))
        out["wa"] = float((y == pred).mean())
        out["macro_f1"] = float(f1_score(y, pred, labels=present, average="macro", zero_division=0))
        if full:
            out["ece"] = expected_calibration_error(probs[has], y)
            out["confusion"] = {
                "classes": list(classes),
                "matrix": confusion_matrix(y, pred, labels=list(range(len(classes)))).tolist(),
            }
            out["reliability"] = reliability_bins(probs[has], y)
    if full and rated is not None:
        for d, dim in enumerate(DIMENSIONS):
            if rated[:, d].sum() >= 2:
                target = np.array([it.avd[d] for it in items])[rated[:, d]]
                out[f"ccc_{dim}"] = concordance(avd[rated[:, d], d], target)
    return out


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = 5) -> list[dict]:
    """Per confidence bin: mean confidence, accuracy and count (the calibration plot)."""
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            out.append(
                {
                    "confidence": float(conf[inside].mean()),
                    "accuracy": float((pred[inside] == labels[inside]).mean()),
                    "n": int(inside.sum()),
                }
            )
    return out
