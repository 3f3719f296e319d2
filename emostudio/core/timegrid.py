"""Center-based, multi-scale sliding windows, shared by every modality.

Chunks tile the media on a fixed hop; every scale's window is centred on the chunk's
centre, so audio frames (e.g. 100 Hz), video frames (e.g. 2 fps) and transcript spans
are all cut on the same time grid and a chunk's features line up across modalities.
"""

from __future__ import annotations

import math

from emostudio.core.domain import Chunk

DEFAULT_HOP = 0.25
DEFAULT_SCALES = (0.5, 1.0, 2.0)


def make_chunks(duration: float, hop: float = DEFAULT_HOP, scales: tuple[float, ...] = DEFAULT_SCALES) -> list[Chunk]:
    """Chunks of ``hop`` seconds covering ``[0, duration)``; the last one may be shorter."""
    if duration <= 0:
        return []
    chunks = []
    for i in range(math.ceil(duration / hop - 1e-9)):
        start = i * hop
        length = min(hop, duration - start)
        center = start + length / 2
        windows = []
        for width in scales:
            w_start = max(0.0, center - width / 2)
            w_end = min(duration, center + width / 2)
            windows.append((w_start, w_end - w_start))
        chunks.append(Chunk(index=i, start=start, duration=length, windows=tuple(windows)))
    return chunks


def frame_slice(start: float, duration: float, frame_rate: float, n_frames: int) -> slice:
    """Frames of a ``frame_rate`` feature sequence whose centres fall in ``[start, start+duration)``.

    Frame k covers ``[k/rate, (k+1)/rate)`` and is centred at ``(k + 0.5)/rate``. A window
    narrower than one frame still gets the frame it lies in, so no chunk is ever empty.
    """
    first = math.ceil(start * frame_rate - 0.5 - 1e-9)
    last = math.ceil((start + duration) * frame_rate - 0.5 - 1e-9)
    first, last = max(0, first), min(n_frames, last)
    if last <= first:
        k = min(max(0, int((start + duration / 2) * frame_rate)), n_frames - 1)
        return slice(k, k + 1) if n_frames else slice(0, 0)
    return slice(first, last)
