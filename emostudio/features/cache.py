"""Extractor output cached on disk per media content and extractor version."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

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
        tag = f"{extractor.name}-{extractor.version}" + (f"-{key}" if key else "")
        tag = tag.replace("/", "_").replace(":", "_")
        digest = inputs.media.content_hash
        return self.root / digest[:2] / f"{digest}.{tag}.npy"

    def load(self, extractor: FeatureExtractor, inputs: FeatureInput) -> Features | None:
        """The cached frames, or None when they were never computed (nothing is computed here)."""
        path = self.path(extractor, inputs)
        if path is None or not path.is_file():
            return None
        return Features(extractor.name, extractor.version, extractor.frame_rate, np.load(path))

    def get(self, extractor: FeatureExtractor, inputs: FeatureInput) -> Features:
        path = self.path(extractor, inputs)
        if path is not None and path.is_file():
            values = np.load(path)
            if values.ndim == 2 and values.shape[1] == extractor.dim:
                return Features(extractor.name, extractor.version, extractor.frame_rate, values)
        features = extractor.features(inputs)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # write then rename: a crash or a second process never leaves half a file
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, features.values)
            os.replace(tmp, path)
            if self.repo is not None:
                version = path.name.split(".")[1][len(extractor.name) + 1 :]
                self.repo.record_features(
                    inputs.media.id, extractor.name, version, str(path), extractor.frame_rate, list(features.values.shape)
                )
        return features
