"""Named, versioned feature extractors and their on-disk cache.

Every extractor turns one media into a frame sequence ``[n_frames, dim]`` at a fixed
``frame_rate``; frame ``k`` covers ``[k / rate, (k + 1) / rate)`` on the media timeline.
One shape for every modality keeps chunk pooling (``emostudio.chunking.frame_slice``)
and caching the same for audio, faces and text.
"""

from emostudio.features.base import ExtractorUnavailable, FeatureExtractor, FeatureInput, Features
from emostudio.features.cache import FeatureCache
from emostudio.features.registry import available_extractors, get_extractor, register_extractor

__all__ = [
    "ExtractorUnavailable",
    "FeatureCache",
    "FeatureExtractor",
    "FeatureInput",
    "Features",
    "available_extractors",
    "get_extractor",
    "register_extractor",
]
