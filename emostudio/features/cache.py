"""Extractor output cached on disk per media content and extractor version."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emostudio.core.files import atomic_write
from emostudio.features.base import FeatureExtractor, FeatureInput, Features


class FeatureCache:
    """``<root>/<hash[:2]>/<hash>.<extractor>-<version>[-<key>].npy``.

    Keyed on the media's content hash, so a file imported twice, or moved, is never
    re-analysed. When a repository is given, each entry is also recorded in the
    ``feature_cache`` table so it can be listed and cleaned per media.
    """

    def __init__(self, root: str | Path | None, repo=None):
        self.root = Path(root) if root is not None else None
        self.repo = repo

    def path(self, extractor: FeatureExtractor, inputs: FeatureInput) -> Path | None:
        if self.root is None:
            return None
        key = extractor.cache_key(inputs)
        if inputs.span:  # one block of a long media
            key = (f"{key}-" if key else "") + f"s{inputs.span[0]:g}-{inputs.span[1]:g}"
        tag = f"{extractor.name}-{extractor.version}" + (f"-{key}" if key else "")
        tag = tag.replace("/", "_").replace(":", "_")
        digest = inputs.media.content_hash
        return self.root / digest[:2] / f"{digest}.{tag}.npy"

    def load(self, extractor: FeatureExtractor, inputs: FeatureInput, mapped: bool = False) -> Features | None:
        """The cached frames, or None when they were never computed (nothing is computed here).
        ``mapped``: memory-mapped, so slicing a window reads that window only."""
        path = self.path(extractor, inputs)
        if path is None or not path.is_file():
            return None
        values = np.load(path, mmap_mode="r" if mapped else None)
        return Features(extractor.name, extractor.version, extractor.frame_rate, values)

    def put(self, extractor: FeatureExtractor, inputs: FeatureInput, values: np.ndarray) -> Features:
        """Store frames computed elsewhere (e.g. assembled block by block) as ``extractor``'s."""
        features = Features(extractor.name, extractor.version, extractor.frame_rate, np.asarray(values, np.float32))
        self._save(extractor, inputs, features)
        return features

    def get(self, extractor: FeatureExtractor, inputs: FeatureInput) -> Features:
        path = self.path(extractor, inputs)
        if path is not None and path.is_file():
            values = np.load(path)
            if values.ndim == 2 and values.shape[1] == extractor.dim:
                return Features(extractor.name, extractor.version, extractor.frame_rate, values)
        features = extractor.features(inputs)
        self._save(extractor, inputs, features)
        return features

    def _save(self, extractor: FeatureExtractor, inputs: FeatureInput, features: Features) -> None:
        path = self.path(extractor, inputs)
        if path is None:
            return
        # write then rename: a crash, a full disk or a second process never leaves half a file
        atomic_write(path, lambda f: np.save(f, features.values))
        if self.repo is not None:
            version = path.name.split(".")[1][len(extractor.name) + 1 :]
            self.repo.record_features(
                inputs.media.id, extractor.name, version, str(path), extractor.frame_rate, list(features.values.shape)
            )
