"""The extractor interface and the frame-sequence record every extractor returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from emostudio.core.domain import Media, Segment
from emostudio.core.timegrid import FrameRate


class ExtractorUnavailable(RuntimeError):
    """The extractor's optional package or local weights are missing on this machine."""


@dataclass(frozen=True)
class FeatureInput:
    """What an extractor may read besides the file: the media record and its transcript.

    ``audio`` is the decoded 16 kHz mono track when the caller already has it (the
    analysis pipeline decodes once for all audio extractors).
    """

    media: Media
    transcript: tuple[Segment, ...] = ()
    audio: np.ndarray | None = field(default=None, compare=False, repr=False)
    span: tuple[float, float] | None = None
    """``(start, end)`` in seconds when these inputs cover only part of the media (long
    media are analysed a block at a time); ``audio`` is then that part's samples."""

    @property
    def start(self) -> float:
        return self.span[0] if self.span else 0.0

    @property
    def duration(self) -> float:
        """Seconds of media these inputs cover (the span's, else the whole media's)."""
        return self.span[1] - self.span[0] if self.span else self.media.duration


@dataclass(frozen=True)
class Features:
    """``values[k]`` describes ``[k / frame_rate, (k + 1) / frame_rate)`` of the media."""

    extractor: str
    version: str
    frame_rate: float
    values: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    def __len__(self) -> int:
        return int(self.values.shape[0])


class FeatureExtractor(ABC):
    """One named, versioned way of turning a media into frames.

    Bump ``version`` whenever the output changes: the cache is keyed on it.
    """

    name: str
    version: str
    modality: str  # audio | face | text
    frame_rate: float
    dim: int

    def cache_key(self, inputs: FeatureInput) -> str:
        """What, besides the media bytes, the output depends on (e.g. the transcript)."""
        return ""

    @abstractmethod
    def extract(self, inputs: FeatureInput) -> np.ndarray:
        """Frames ``[n, dim]`` (float32) for the whole media."""

    def n_frames(self, inputs: FeatureInput) -> int:
        """How many frames ``inputs`` (the whole media, or its span) has at this extractor's rate."""
        return FrameRate(self.frame_rate).count(inputs.duration)

    def features(self, inputs: FeatureInput) -> Features:
        values = np.asarray(self.extract(inputs), dtype=np.float32)
        if values.ndim != 2 or values.shape[1] != self.dim:
            raise ValueError(f"{self.name}: expected [n, {self.dim}] frames, got {values.shape}")
        return Features(self.name, self.version, self.frame_rate, values)


def fit_length(values: np.ndarray, n: int) -> np.ndarray:
    """Trim or edge-pad ``values`` to ``n`` frames (encoders round lengths differently)."""
    if len(values) >= n:
        return values[:n]
    if len(values) == 0:
        return np.zeros((n, values.shape[1]), values.dtype)
    return np.concatenate([values, np.repeat(values[-1:], n - len(values), axis=0)])
