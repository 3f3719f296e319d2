"""Chunk-level outputs on disk: one safetensors file per media and model-version run.

The database keeps a row per file (``chunk_arrays``: its path relative to the store's
folder, SHA-256 and size); the file holds the chunk times, the emotion probabilities,
the compound scores, arousal/valence/dominance, each modality's outputs, and an
overview of the whole media (``ChunkSeries.overview``) computed when it is written.

safetensors is read lazily: a window of an hour-long media reads that window's rows
and nothing else, and the overview is read without the full-resolution arrays.
Files are named by their content and written beside their final name, then renamed:
a file is whole or absent, never half written, and never changed after.

Values are stored as float32 when float32 holds them exactly (a model's outputs),
else as float64: what goes in comes out bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save

from emostudio.core.series import OVERVIEW_POINTS, ChunkSeries

FORMAT = "emostudio-chunks/1"
_OVERVIEW = "overview."
_MODALITY = "modality."
_WAVEFORM = "overview.waveform"


class ChunkFileError(Exception):
    """A chunk file is missing or not the one the database recorded."""


@dataclass(frozen=True)
class StoredFile:
    path: str
    """Relative to the store's folder, with forward slashes."""
    sha256: str
    size_bytes: int


def _compact(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    small = a.astype(np.float32)
    return small if np.array_equal(small.astype(np.float64), a, equal_nan=True) else a


def _tensors(series: ChunkSeries, prefix: str = "") -> dict[str, np.ndarray]:
    arrays = {
        "start": series.start,
        "duration": series.duration,
        "basic": series.basic,
        "compound": series.compound,
        "avd": series.avd,
        **{_MODALITY + m: v for m, v in series.modalities.items()},
    }
    return {prefix + k: _compact(v) for k, v in arrays.items()}


def _grid_step(series: ChunkSeries) -> float | None:
    """The hop when chunk ``i`` starts at ``i * hop`` and lasts ``hop`` (the last may be
    shorter): then a window's rows are found from its times without reading any array."""
    if len(series) < 2:
        return None
    step = float(series.start[1] - series.start[0])
    uniform = (
        step > 0
        and np.array_equal(series.start, np.arange(len(series)) * step)
        and bool((series.duration[:-1] == step).all())
        and 0 < series.duration[-1] <= step
    )
    return step if uniform else None


def waveform_overview(peaks: np.ndarray, rate: float, points: int = 2 * OVERVIEW_POINTS) -> tuple[np.ndarray, float]:
    """Waveform peaks (lowest, highest per frame) merged into at most ``points`` frames,
    and their frame rate."""
    size = max(1, math.ceil(len(peaks) / points))
    firsts = np.arange(0, len(peaks), size)
    peaks = np.asarray(peaks, np.float32).reshape(-1, 2)
    lo = np.minimum.reduceat(peaks[:, 0], firsts) if len(peaks) else peaks[:0, 0]
    hi = np.maximum.reduceat(peaks[:, 1], firsts) if len(peaks) else peaks[:0, 1]
    return np.stack([lo, hi], axis=1), rate / size


def encode(series: ChunkSeries, waveform: tuple[np.ndarray, float] | None = None) -> bytes:
    """The file's bytes: the series, its overview, and the overview of the media's
    waveform (``waveform``: peaks and their frame rate) when given."""
    metadata = {
        "format": FORMAT,
        "media_id": series.media_id,
        "model_version_id": series.model_version_id,
        "extractor": series.extractor,
        "classes": json.dumps(list(series.classes)),
        "compound_classes": json.dumps(list(series.compound_classes)),
        "modality_columns": json.dumps({m: list(c) for m, c in series.modality_columns.items()}),
    }
    step = _grid_step(series)
    if step is not None:
        metadata["step"] = repr(step)
    tensors = {**_tensors(series), **_tensors(series.overview(), _OVERVIEW)}
    if waveform is not None and len(waveform[0]):
        tensors[_WAVEFORM], rate = waveform_overview(*waveform)
        metadata["waveform_rate"] = repr(rate)
    return save(tensors, metadata=metadata)


def _window_rows(f, n: int, start: float | None, end: float | None) -> tuple[int, int]:
    """Rows ``[first, last)`` of the chunks overlapping ``[start, end)``."""
    start = -np.inf if start is None else start
    end = np.inf if end is None else end
    step = f.metadata().get("step")
    if step is not None:
        step = float(step)
        first = 0 if start <= 0 else min(n, int(start // step))
        last = n if not np.isfinite(end) else min(n, max(0, math.ceil(end / step)))
    else:
        starts = f.get_tensor("start")
        first = int(np.searchsorted(starts + f.get_tensor("duration"), start, side="right"))
        last = int(np.searchsorted(starts, end, side="left"))
    return first, max(first, last)


class ChunkStore:
    """The folder of chunk files (``<data dir>/arrays``)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def write(self, series: ChunkSeries, waveform: tuple[np.ndarray, float] | None = None) -> StoredFile:
        data = encode(series, waveform)
        digest = hashlib.sha256(data).hexdigest()
        rel = f"{series.media_id}/{digest[:20]}.safetensors"
        final = self.root / rel
        if not (final.is_file() and final.stat().st_size == len(data)):
            final.parent.mkdir(parents=True, exist_ok=True)
            part = final.with_name(f"{final.name}.{os.getpid()}.part")
            part.write_bytes(data)
            os.replace(part, final)
        return StoredFile(rel, digest, len(data))

    def forget(self, media_id: str) -> None:
        """Remove a deleted media's files."""
        shutil.rmtree(self.root / media_id, ignore_errors=True)

    def _open(self, stored: StoredFile, verify: bool):
        path = self.root / stored.path
        try:
            size = path.stat().st_size
        except OSError:
            raise ChunkFileError(f"chunk file {stored.path} is missing from the data folder") from None
        if size != stored.size_bytes:
            raise ChunkFileError(f"chunk file {stored.path} has {size} bytes, not the {stored.size_bytes} recorded")
        if verify and hashlib.sha256(path.read_bytes()).hexdigest() != stored.sha256:
            raise ChunkFileError(f"chunk file {stored.path} does not match its recorded checksum")
        return safe_open(path, framework="numpy")

    def read(
        self,
        stored: StoredFile,
        start: float | None = None,
        end: float | None = None,
        overview: bool = False,
    ) -> ChunkSeries:
        """The whole series (its checksum verified), the chunks overlapping
        ``[start, end)`` (only those rows are read), or the overview."""
        whole = start is None and end is None and not overview
        with self._open(stored, verify=whole) as f:
            meta = f.metadata()
            prefix = _OVERVIEW if overview else ""
            first, last = 0, f.get_slice(prefix + "start").get_shape()[0]
            if not whole and not overview:
                first, last = _window_rows(f, last, start, end)

            def rows(name: str) -> np.ndarray:
                return f.get_slice(prefix + name)[first:last].astype(np.float64)

            names = [k[len(_MODALITY) :] for k in f.keys() if k.startswith(_MODALITY)]
            total = f.get_slice("start").get_shape()[0]
            return ChunkSeries(
                meta["media_id"],
                meta["model_version_id"],
                meta["extractor"],
                tuple(json.loads(meta["classes"])),
                tuple(json.loads(meta["compound_classes"])),
                rows("start"),
                rows("duration"),
                rows("basic"),
                rows("compound"),
                rows("avd"),
                {} if overview else {m: rows(_MODALITY + m) for m in names},
                {m: tuple(c) for m, c in json.loads(meta["modality_columns"]).items()},
                offset=first,
                total=None if whole or overview else total,
            )

    def read_waveform(self, stored: StoredFile) -> tuple[np.ndarray, float] | None:
        """The overview of the media's waveform (peaks, frame rate), if one was stored."""
        with self._open(stored, verify=False) as f:
            rate = f.metadata().get("waveform_rate")
            return None if rate is None else (f.get_tensor(_WAVEFORM), float(rate))
