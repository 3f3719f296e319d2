"""Frame features -> one vector per chunk and modality, pooled over the chunk's
centred windows at every scale (see ``emostudio.core.timegrid``).

Pooling uses cumulative sums, so an hour of audio (14,400 chunks x 3 scales) costs a
few array operations instead of a Python loop per window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emostudio.core.domain import Chunk
from emostudio.core.timegrid import FrameRate
from emostudio.features.base import Features


@dataclass(frozen=True)
class ChunkInputs:
    """Model inputs for one media: ``[n_chunks, dim]`` per modality and a mask saying
    which chunks have that modality (``None``: the media lacks it altogether)."""

    audio: np.ndarray | None
    audio_mask: np.ndarray | None
    face: np.ndarray | None
    face_mask: np.ndarray | None
    text: np.ndarray | None
    text_mask: np.ndarray | None
    face_embedding: np.ndarray | None = None
    """The face's embedding per chunk (models that align voice and face read it)."""

    @property
    def n_chunks(self) -> int:
        for x in (self.audio, self.face, self.text):
            if x is not None:
                return len(x)
        return 0


def _window_bounds(chunks: list[Chunk], scale: int, rate: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last+1 frame (of ``n`` at ``rate``) of each chunk's window at ``scale``; never empty."""
    starts = np.array([c.windows[scale][0] for c in chunks])
    ends = starts + np.array([c.windows[scale][1] for c in chunks])
    return FrameRate(rate).spans(starts, ends, n)


def _prefix_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Running sums of the mean-centred frames and of their squares, and the mean.

    Centring keeps float32 running sums accurate over an hour of frames (they grow like
    a random walk instead of linearly); torch's cumsum is several times faster than
    NumPy's here, and this is the analysis step that touches every frame.
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    mean = x.mean(0)
    centred = x - mean
    zero = torch.zeros(1, x.shape[1])
    cum = torch.cat([zero, torch.cumsum(centred, 0)])
    cum2 = torch.cat([zero, torch.cumsum(centred * centred, 0)])
    return cum.numpy(), cum2.numpy(), mean.numpy()


def _window_sums(prefix, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum of (centred) frames and of their squares over ``[first, last)``; add ``count * mean`` back for raw sums."""
    cum, cum2, _ = prefix
    return (cum[last] - cum[first]).astype(np.float64), (cum2[last] - cum2[first]).astype(np.float64)


GROUP = 2400  # chunks pooled together (10 minutes at 0.25 s): bounds the running sums' memory


def pool_mean_std(features: Features, chunks: list[Chunk]) -> np.ndarray:
    """``[n_chunks, 2 * dim * n_scales]``: mean and standard deviation per window.

    Long media are pooled ten minutes of chunks at a time, each group with running sums
    over just the frames its windows touch, so memory does not grow with the length.
    """
    if len(chunks) <= GROUP:
        return _pool_mean_std(features, chunks, 0)
    bounds = [_window_bounds(chunks, s, features.frame_rate, len(features)) for s in range(len(chunks[0].windows))]
    out = []
    for g in range(0, len(chunks), GROUP):
        lo = min(int(b[0][g : g + GROUP].min()) for b in bounds)
        hi = max(int(b[1][g : g + GROUP].max()) for b in bounds)
        part = Features(features.extractor, features.version, features.frame_rate, features.values[lo:hi])
        out.append(_pool_mean_std(part, chunks[g : g + GROUP], lo, len(features)))
    return np.concatenate(out)


def _pool_mean_std(features: Features, chunks: list[Chunk], offset: int, total: int | None = None) -> np.ndarray:
    """Pool ``chunks`` over ``features``, whose first frame is frame ``offset`` of ``total``."""
    parts = []
    prefix = _prefix_sums(features.values)
    n = total if total is not None else len(features)
    for scale in range(len(chunks[0].windows)):
        first, last = _window_bounds(chunks, scale, features.frame_rate, n)
        first, last = first - offset, last - offset
        count = (last - first)[:, None].astype(np.float64)
        s, s2 = _window_sums(prefix, first, last)
        centred_mean = s / count
        std = np.sqrt(np.maximum(s2 / count - centred_mean**2, 0.0))
        parts += [centred_mean + prefix[2], std]
    return np.concatenate(parts, axis=1).astype(np.float32)


def pool_flagged(features: Features, chunks: list[Chunk], scale: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For frame features whose last column says "present": the mean of present frames and
    the present fraction per window, at every scale (or one). Returns (inputs, any-present mask)."""
    scales = range(len(chunks[0].windows)) if scale is None else [scale]
    parts, present = [], np.zeros(len(chunks), bool)
    if len(features) == 0:  # nothing sampled (no frame in the media): absent, never NaN
        width = features.values.shape[1] * len(scales)
        return np.zeros((len(chunks), width), np.float32), present
    flag = features.values[:, -1:]
    values_prefix, flag_prefix = _prefix_sums(features.values[:, :-1] * flag), _prefix_sums(flag)
    for sc in scales:
        first, last = _window_bounds(chunks, sc, features.frame_rate, len(features))
        count = (last - first)[:, None]
        s = _window_sums(values_prefix, first, last)[0] + count * values_prefix[2]
        n_present = np.rint(_window_sums(flag_prefix, first, last)[0] + count * flag_prefix[2])
        fraction = n_present / count
        # a window without any present frame is all zeros (its running sums are rounding noise)
        parts += [np.where(n_present > 0, s / np.maximum(n_present, 1.0), 0.0), fraction]
        present |= n_present[:, 0] > 0
    return np.concatenate(parts, axis=1).astype(np.float32), present


def build_chunk_inputs(
    chunks: list[Chunk],
    audio: list[Features] | None = None,
    face: Features | None = None,
    text: Features | None = None,
    audio_end: float | None = None,
    face_embedding: Features | None = None,
) -> ChunkInputs:
    """``audio_end``: where the audio track stops (a video's sound may end before its
    picture); chunks centred after it have no audio input (their mask is False)."""
    audio_x = np.concatenate([pool_mean_std(f, chunks) for f in audio], axis=1) if audio else None
    audio_mask = None
    if audio_x is not None:
        audio_mask = np.ones(len(chunks), bool)
        if audio_end is not None:
            audio_mask = np.array([c.center < audio_end for c in chunks])
    face_x, face_mask = pool_flagged(face, chunks) if face is not None else (None, None)
    # one transcript vector per chunk: the widest window, so short pauses between words don't blank it
    text_x, text_mask = (
        pool_flagged(text, chunks, scale=len(chunks[0].windows) - 1) if text is not None else (None, None)
    )
    widest = len(chunks[0].windows) - 1
    embedding = pool_flagged(face_embedding, chunks, scale=widest)[0] if face_embedding is not None else None
    return ChunkInputs(audio_x, audio_mask, face_x, face_mask, text_x, text_mask, embedding)
