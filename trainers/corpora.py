"""Labelled corpora from ``../shared/data`` (EmoDB, RAVDESS speech, MELD text) as
training examples: chunk inputs per clip, a label, and the speaker for folds."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from emostudio.core.labels import canonical_label
from emostudio.core.timegrid import CHUNKS, SlidingWindow
from emostudio.features import FeatureCache
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


CORPORA = {
    # folder: (label column, speaker column)
    "emodb": ("emotion", "speaker"),
    "ravdess_speech": ("emotion", "actor"),
}


def read_labels(folder: Path) -> list[dict]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_speech_corpus(
    data_root: str | Path,
    corpus: str,
    extractors: list,
    cache: FeatureCache,
    grid: SlidingWindow = CHUNKS,
    limit: int | None = None,
    progress: bool = True,
) -> list[Example]:
    """Audio chunk inputs for every clip of a corpus (features come from the cache when there)."""
    folder = Path(data_root) / corpus
    label_col, speaker_col = CORPORA[corpus]
    rows = read_labels(folder)[:limit]
    examples = []
    for row in tqdm(rows, desc=f"features {corpus}", disable=not progress, unit="clip"):
        media = media_for_path(folder / row["path"])
        feats = audio_features(media, extractors, cache)
        chunks = grid.chunks(media.duration)
        examples.append(
            Example(
                row["path"],
                build_chunk_inputs(chunks, audio=feats),
                canonical_label(row[label_col]),
                row[label_col].lower(),
                f"{corpus}:{row[speaker_col]}",
            )
        )
    return examples


def load_meld_text(
    data_root: str | Path, split: str, embed: Callable[[list[str]], np.ndarray]
) -> tuple[np.ndarray, list[str]]:
    """MELD utterance embeddings and canonical labels for ``split`` (train / dev / test)."""
    path = Path(data_root) / "meld" / "data" / "MELD" / f"{split}_sent_emo.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    text_col = next(c for c in rows[0] if c.lower() in ("utterance", "text"))
    label_col = next(c for c in rows[0] if c.lower() == "emotion")
    texts = [r[text_col].replace("\x92", "'").strip() for r in rows]
    return embed(texts), [canonical_label(r[label_col]) for r in rows]
