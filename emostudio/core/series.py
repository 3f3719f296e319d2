"""A media's chunk-level outputs by one model version, as arrays: one row per chunk.

An hour of speech is 14,400 chunks of 0.25 s; as ``Prediction`` records that is 14,400
objects of three dicts each. ``ChunkSeries`` keeps the same values as a handful of
arrays, which is how they are stored (one file per media and version) and how the
Inspect page reads a window of them. ``predictions()`` gives the records back where a
caller wants them (a short clip, a CSV row).

Example::

    >>> import numpy as np
    >>> s = ChunkSeries("m1", "v1", "x", ("a", "b"), (), np.array([0.0, 0.25, 0.5]),
    ...                 np.array([0.25, 0.25, 0.1]), np.array([[.9, .1], [.4, .6], [.5, .5]]),
    ...                 np.zeros((3, 0)), np.full((3, 3), np.nan))
    >>> [p.top_label for p in s.window(0.3, 0.6).predictions()]
    ['b', 'a']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from emostudio.core.domain import Prediction
from emostudio.core.labels import DIMENSIONS

OVERVIEW_POINTS = 1_000
"""At most this many points in a media's overview (a whole hour at a glance)."""


@dataclass(frozen=True, eq=False)
class ChunkSeries:
    media_id: str
    model_version_id: str
    extractor: str
    classes: tuple[str, ...]
    compound_classes: tuple[str, ...]
    start: np.ndarray
    """(n,) seconds."""
    duration: np.ndarray
    basic: np.ndarray
    """(n, len(classes)) probabilities."""
    compound: np.ndarray
    """(n, len(compound_classes)) scores."""
    avd: np.ndarray
    """(n, 3) arousal, valence, dominance; NaN where the model gave none."""
    modalities: dict[str, np.ndarray] = field(default_factory=dict)
    """Modality -> (n, len(modality_columns[m])); a NaN row where the modality had no input."""
    modality_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    offset: int = 0
    """Index of the first row in the media's whole series (a window starts later)."""
    total: int | None = None
    """Rows in the whole series (None: this is the whole series)."""

    def __len__(self) -> int:
        return len(self.start)

    @property
    def end(self) -> float:
        return float(self.start[-1] + self.duration[-1]) if len(self) else 0.0

    def column(self, name: str) -> np.ndarray:
        """One curve: a dimension (``arousal``) or a basic class's probability."""
        if name in DIMENSIONS:
            return self.avd[:, DIMENSIONS.index(name)]
        return self.basic[:, self.classes.index(name)]

    def rows(self, first: int, last: int) -> ChunkSeries:
        """Rows ``first`` to ``last`` (exclusive) of this series."""
        cut = slice(first, last)
        return ChunkSeries(
            self.media_id,
            self.model_version_id,
            self.extractor,
            self.classes,
            self.compound_classes,
            self.start[cut],
            self.duration[cut],
            self.basic[cut],
            self.compound[cut],
            self.avd[cut],
            {m: v[cut] for m, v in self.modalities.items()},
            self.modality_columns,
            offset=self.offset + max(0, first),
            total=len(self) if self.total is None else self.total,
        )

    def window(self, start: float, end: float) -> ChunkSeries:
        """The chunks overlapping ``[start, end)``."""
        first = int(np.searchsorted(self.start + self.duration, start, side="right"))
        last = int(np.searchsorted(self.start, end, side="left"))
        return self.rows(first, max(first, last))

    def prediction(self, i: int) -> Prediction:
        avd = [None if math.isnan(v) else float(v) for v in self.avd[i]]
        modalities = {}
        for m, values in self.modalities.items():
            row = values[i]
            if not np.isnan(row).all():
                modalities[m] = dict(zip(self.modality_columns[m], map(float, row)))
        return Prediction(
            None,
            self.media_id,
            self.model_version_id,
            self.extractor,
            "chunk",
            float(self.start[i]),
            float(self.duration[i]),
            basic=dict(zip(self.classes, map(float, self.basic[i]))),
            compound=dict(zip(self.compound_classes, map(float, self.compound[i]))),
            arousal=avd[0],
            valence=avd[1],
            dominance=avd[2],
            modalities=modalities,
        )

    def predictions(self) -> list[Prediction]:
        return [self.prediction(i) for i in range(len(self))]

    @classmethod
    def from_predictions(cls, predictions: Sequence[Prediction]) -> ChunkSeries:
        """The series of chunk predictions of one media and version (in time order)."""
        if not predictions:
            raise ValueError("a chunk series needs at least one chunk")
        preds = sorted(predictions, key=lambda p: p.start)
        first = preds[0]
        classes = tuple(first.basic)
        compound = tuple(first.compound)
        names = {}
        for p in preds:
            if (p.media_id, p.model_version_id) != (first.media_id, first.model_version_id):
                raise ValueError("a chunk series holds one media's chunks by one model version")
            for m, values in p.modalities.items():
                names.setdefault(m, tuple(values))
        modalities = {m: np.full((len(preds), len(cols)), np.nan) for m, cols in names.items()}
        for i, p in enumerate(preds):
            for m, values in p.modalities.items():
                modalities[m][i] = [values.get(c, np.nan) for c in names[m]]

        def nan(v):
            return np.nan if v is None else v

        return cls(
            first.media_id,
            first.model_version_id,
            first.extractor,
            classes,
            compound,
            np.array([p.start for p in preds], dtype=np.float64),
            np.array([p.duration for p in preds], dtype=np.float64),
            np.array([[p.basic.get(c, np.nan) for c in classes] for p in preds], dtype=np.float64).reshape(
                len(preds), len(classes)
            ),
            np.array([[p.compound.get(c, np.nan) for c in compound] for p in preds], dtype=np.float64).reshape(
                len(preds), len(compound)
            ),
            np.array([[nan(p.arousal), nan(p.valence), nan(p.dominance)] for p in preds], dtype=np.float64),
            modalities,
            names,
        )

    def overview(self, points: int = OVERVIEW_POINTS) -> ChunkSeries:
        """The series averaged over equal runs of chunks, at most ``points`` rows: the
        whole media at a glance (per-modality outputs are left out)."""
        n = len(self)
        firsts = np.arange(0, n, max(1, math.ceil(n / points)))
        counts = np.diff(np.append(firsts, n))[:, None]

        def mean(a: np.ndarray) -> np.ndarray:
            return np.add.reduceat(a, firsts, axis=0) / counts if a.size else a[firsts]

        return ChunkSeries(
            self.media_id,
            self.model_version_id,
            self.extractor,
            self.classes,
            self.compound_classes,
            self.start[firsts],
            np.append(self.start[firsts[1:]], self.end) - self.start[firsts],
            mean(self.basic),
            mean(self.compound),
            mean(self.avd),
        )
