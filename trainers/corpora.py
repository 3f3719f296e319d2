"""Labelled corpora (read through their recipes) as training examples: chunk inputs per
clip, a label, and the speaker for folds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from emostudio.core.timegrid import CHUNKS, SlidingWindow
from emostudio.features import FeatureCache
from emostudio.media.recipes import FOLDERS, RECIPES, load_corpus
from emostudio.model.chunk_inputs import ChunkInputs, build_chunk_inputs
from emostudio.services.analysis import audio_features, media_for_path


@dataclass(frozen=True)
class Example:
    """One labelled clip: model inputs, its class in the corpus's own classes and in the
    studio's basic label space, the source class, and the speaker (fold group)."""

    name: str
    inputs: ChunkInputs
    label: str  # canonical basic class
    raw_label: str  # the corpus's own class (RAVDESS keeps calm apart for its 8-class benchmark)
    group: str


def load_speech_corpus(
    data_root: str | Path,
    corpus: str,
    extractors: list,
    cache: FeatureCache,
    grid: SlidingWindow = CHUNKS,
    limit: int | None = None,
    progress: bool = True,
) -> list[Example]:
    """Audio chunk inputs for every clip of a corpus (its recipe in ``emostudio.media.recipes``;
    features come from the cache when there)."""
    items = load_corpus(corpus, data_root)[:limit]
    examples = []
    for item in tqdm(items, desc=f"features {corpus}", disable=not progress, unit="clip"):
        media = media_for_path(item.path)
        feats = audio_features(media, extractors, cache)
        inputs = build_chunk_inputs(grid.chunks(media.duration), audio=feats)
        examples.append(Example(item.path.name, inputs, item.label, item.raw_label, item.speaker))
    return examples


def load_meld_text(
    data_root: str | Path, split: str, embed: Callable[[list[str]], np.ndarray]
) -> tuple[np.ndarray, list[str]]:
    """MELD utterance embeddings and canonical labels for ``split`` (train / dev / test)."""
    items = RECIPES["meld"](Path(data_root) / FOLDERS["meld"], splits=(split,))
    return embed([it.text for it in items]), [it.label for it in items]
