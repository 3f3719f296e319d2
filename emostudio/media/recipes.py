"""Corpus recipes (lhotse's ``recipes/`` are the model): one function per labelled
corpus, turning its folder into plain items (a file or a text, its label in the
corpus's words and in the studio's label space, its speaker). Importing a corpus into
the studio, training the shipped defaults and the benchmarks all read corpora through
here, so a corpus's quirks are handled once.

    >>> from emostudio.media.recipes import RECIPES
    >>> sorted(RECIPES)
    ['cremad', 'emodb', 'fer2013', 'mead', 'meld', 'ravdess']
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emostudio.core.labels import canonical_label


@dataclass(frozen=True)
class CorpusItem:
    """One labelled recording (``path``) or utterance (``text``) of a corpus."""

    label: str
    """In the studio's label space (e.g. EmoDB "boredom" is "neutral")."""
    raw_label: str
    """As the corpus names it, lower-cased (what a corpus-specific benchmark scores)."""
    speaker: str
    """The speaker or actor, prefixed with the corpus (fold groups never mix corpora)."""
    path: Path | None = None
    text: str | None = None
    split: str | None = None
    """The corpus's own split where it has one (MELD: train / dev / test)."""


def _rows(folder: Path, name: str = "labels.csv") -> list[dict]:
    with open(folder / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _clips(root: str | Path, corpus: str, label_col: str, speaker_col: str) -> list[CorpusItem]:
    folder = Path(root)
    return [
        CorpusItem(
            label=canonical_label(r[label_col]),
            raw_label=r[label_col].strip().lower(),
            speaker=f"{corpus}:{r[speaker_col]}",
            path=folder / r["path"],
        )
        for r in _rows(folder)
    ]


def emodb(root: str | Path) -> list[CorpusItem]:
    """Berlin EmoDB: 535 German acted utterances, 10 speakers; boredom becomes neutral."""
    return _clips(root, "emodb", "emotion", "speaker")


def ravdess(root: str | Path) -> list[CorpusItem]:
    """RAVDESS speech: 1,440 English utterances, 24 actors; calm becomes neutral."""
    return _clips(root, "ravdess", "emotion", "actor")


def cremad(root: str | Path) -> list[CorpusItem]:
    """CREMA-D samples: talking-face clips (flv) and their mp3s, with the intended emotion."""
    return _clips(root, "cremad", "intended_emotion", "actor")


def mead(root: str | Path) -> list[CorpusItem]:
    """MEAD clips: face crops (no audio) and a full clip; contempt becomes disgust."""
    return _clips(root, "mead", "emotion", "speaker")


def fer2013(root: str | Path) -> list[CorpusItem]:
    """FER2013 private test faces (48x48 grey); no speakers, one group per image."""
    folder = Path(root)
    return [
        CorpusItem(canonical_label(r["emotion"]), r["emotion"].lower(), f"fer2013:{i}", path=folder / r["path"])
        for i, r in enumerate(_rows(folder))
    ]


def meld(root: str | Path, splits: tuple[str, ...] = ("train", "dev", "test")) -> list[CorpusItem]:
    """MELD utterances (Friends dialogue): text, speaker, emotion (joy becomes happiness), split."""
    folder = Path(root) / "data" / "MELD"
    items = []
    for split in splits:
        for r in _rows(folder, f"{split}_sent_emo.csv"):
            text = r["Utterance"].replace("\x92", "'").strip()
            items.append(
                CorpusItem(
                    canonical_label(r["Emotion"]), r["Emotion"].lower(), f"meld:{r['Speaker']}", text=text, split=split
                )
            )
    return items


RECIPES: dict[str, Callable[..., list[CorpusItem]]] = {
    "emodb": emodb,
    "ravdess": ravdess,
    "cremad": cremad,
    "mead": mead,
    "fer2013": fer2013,
    "meld": meld,
}
FOLDERS = {
    "emodb": "emodb",
    "ravdess": "ravdess_speech",
    "cremad": "cremad",
    "mead": "mead_clips",
    "fer2013": "fer2013_privatetest",
    "meld": "meld",
}
"""Where each corpus sits under ``../shared/data``."""


def load_corpus(name: str, data_root: str | Path) -> list[CorpusItem]:
    """The items of corpus ``name`` under ``data_root`` (the folder holding every corpus)."""
    if name not in RECIPES:
        raise KeyError(f"no recipe for {name!r} (known: {', '.join(sorted(RECIPES))})")
    return RECIPES[name](Path(data_root) / FOLDERS[name])
