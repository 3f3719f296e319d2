"""The time grid, in one place: frames of a feature sequence, and the chunks curves are
drawn in, each analysed through windows of several widths centred on it.

Every modality is cut on the same grid: audio frames (e.g. 100 Hz), video frames (e.g.
2 fps) and transcript spans (4 Hz) are all ``FrameRate``s, and a chunk's windows select
the frames whose centres fall inside them, so a chunk's features line up across
modalities. ``SlidingWindow`` is the chunk grid (pyannote.core's ``SlidingWindow`` is the
model): a step (the chunk hop) and centred window widths (the scales).

Example::

    >>> grid = SlidingWindow(step=0.25, scales=(0.5, 1.0))
    >>> [(c.start, c.duration) for c in grid.chunks(0.6)]
    [(0.0, 0.25), (0.25, 0.25), (0.5, 0.09999999999999998)]
    >>> FrameRate(100.0).count(0.6), FrameRate(100.0).span(0.0, 0.25)
    (60, slice(0, 25, None))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from emostudio.core.domain import Chunk

EPS = 1e-9


@dataclass(frozen=True)
class FrameRate:
    """Frames at ``rate`` per second: frame k covers ``[k / rate, (k + 1) / rate)`` and is
    centred at ``(k + 0.5) / rate``."""

    rate: float

    def count(self, duration: float) -> int:
        """Frames a media of ``duration`` seconds has (a partial last frame counts; at least one)."""
        return max(1, math.ceil(duration * self.rate - 1e-6))

    def index(self, t: float) -> int:
        """The frame that starts at (or just after) time ``t``: where a block starting at ``t`` begins."""
        return round(t * self.rate)

    def first_centred_at_or_after(self, t):
        """The first frame whose centre is at or after ``t`` (numbers or NumPy arrays)."""
        return (
            np.ceil(np.asarray(t) * self.rate - 0.5 - EPS).astype(int)
            if np.ndim(t)
            else math.ceil(t * self.rate - 0.5 - EPS)
        )

    def span(self, start: float, duration: float, n_frames: int | None = None) -> slice:
        """Frames whose centres fall in ``[start, start + duration)``; a window narrower than
        a frame still gets the frame it lies in, so no window is ever empty."""
        n = self.count(start + duration) if n_frames is None else n_frames
        first = max(0, self.first_centred_at_or_after(start))
        last = min(n, self.first_centred_at_or_after(start + duration))
        if last <= first:
            k = min(max(0, int((start + duration / 2) * self.rate)), n - 1)
            return slice(k, k + 1) if n else slice(0, 0)
        return slice(first, last)

    def spans(self, starts: np.ndarray, ends: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """``span`` for many windows at once: first and last+1 frame of each (never empty)."""
        first = np.clip(self.first_centred_at_or_after(starts), 0, n_frames)
        last = np.clip(self.first_centred_at_or_after(ends), 0, n_frames)
        centre = np.clip(((starts + ends) / 2 * self.rate).astype(int), 0, n_frames - 1)
        empty = last <= first
        first[empty], last[empty] = centre[empty], centre[empty] + 1
        return first, last


@dataclass(frozen=True)
class SlidingWindow:
    """The chunk grid: chunks of ``step`` seconds tiling the media, each seen through
    windows of the widths in ``scales`` centred on it (clipped to the media)."""

    step: float = 0.25
    scales: tuple[float, ...] = (0.5, 1.0, 2.0)

    def chunks(self, duration: float) -> list[Chunk]:
        """Chunks covering ``[0, duration)``; the last one may be shorter."""
        if duration <= 0:
            return []
        chunks = []
        for i in range(math.ceil(duration / self.step - EPS)):
            start = i * self.step
            length = min(self.step, duration - start)
            center = start + length / 2
            windows = []
            for width in self.scales:
                w_start = max(0.0, center - width / 2)
                w_end = min(duration, center + width / 2)
                windows.append((w_start, w_end - w_start))
            chunks.append(Chunk(index=i, start=start, duration=length, windows=tuple(windows)))
        return chunks

    def index(self, t: float) -> int:
        """The chunk holding time ``t``."""
        return int(t // self.step)

    def to_json(self) -> dict:
        return {"step": self.step, "scales": list(self.scales)}

    @classmethod
    def from_json(cls, data: dict) -> SlidingWindow:
        return cls(step=float(data.get("step", cls.step)), scales=tuple(data.get("scales", cls.scales)))


CHUNKS = SlidingWindow()
"""The studio's chunk grid (0.25 s chunks; 0.5, 1 and 2 s windows)."""
