"""What every page's callbacks need: the repository and where the studio keeps files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from db.repository import Repository
from emostudio.config import Settings
from emostudio.features import FeatureCache


@dataclass(frozen=True)
class StudioContext:
    repo: Repository
    settings: Settings

    @property
    def feature_cache(self) -> FeatureCache:
        return FeatureCache(self.settings.cache_dir / "features", self.repo)

    @property
    def thumbnails_root(self) -> Path:
        return self.settings.cache_dir / "thumbnails"

    @property
    def exports_dir(self) -> Path:
        return self.settings.data_dir / "exports"
