"""The extractor interface and the frame-sequence record every extractor returns."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

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
    """One named way of turning a media into frames.

    Its ``version`` is a fingerprint, never a number someone has to remember to bump: a
    hash of the code that computes the frames (the extractor's module, this one and the
    time grid), its settings (``params``) and the bytes of its weights
    (``weight_files``). The feature cache and every prediction's ``extractor`` column are
    keyed on it, so changing any of these recomputes the features.
    """

    name: str
    modality: str  # audio | face | text
    frame_rate: float
    dim: int

    def params(self) -> dict:
        """Settings that change the output (e.g. a frame rate chosen at construction)."""
        return {}

    def weight_files(self) -> list[Path]:
        """Files of learned weights (or other data) the output depends on."""
        return []

    @property
    def version(self) -> str:
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            cached = self.__dict__["_fingerprint"] = fingerprint(type(self), self.params(), self.weight_files())
        return cached

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


_file_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime) for the life of the process."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _file_digests:
        with open(path, "rb") as f:
            _file_digests[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return _file_digests[key]


def fingerprint(cls: type, params: dict, weights: list[Path]) -> str:
    """12 hex digits naming what an extractor computes: its code, settings and weights."""
    from emostudio.core import timegrid

    h = hashlib.sha256(cls.__qualname__.encode())
    for module in sorted(
        {inspect.getsourcefile(cls), __file__, timegrid.__file__}
    ):  # sets iterate in a per-process order
        h.update(file_digest(module).encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    for w in sorted(map(str, weights)):
        h.update(file_digest(w).encode())
    return h.hexdigest()[:12]
