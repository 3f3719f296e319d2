"""The label space shared by models, trainers, UI and export, and the mapping of
each corpus's class names onto it.

Decisions for classes outside the 7 basic emotions (kept verbatim in
``Annotation.raw_label``, so a trainer can still exclude them):

- EmoDB ``boredom`` -> neutral, RAVDESS ``calm`` -> neutral: both are low-arousal,
  non-prototypical states the basic set has no class for; neutral is the nearest
  category, and their arousal difference survives in the dimensional labels.
- MEAD ``contempt`` -> disgust: contempt is not in FER2013 / C-EXPR-DB's basic set and
  is most often confused with disgust by raters.
- EmoryNLP ``peaceful`` and ``powerful`` have no basic counterpart and are rejected as
  unknown rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

BASIC: tuple[str, ...] = ("neutral", "happiness", "sadness", "anger", "fear", "disgust", "surprise")

# C-EXPR-DB compound classes, each with the pair of basic emotions it combines.
COMPOUND_PAIRS: dict[str, tuple[str, str]] = {
    "fearfully surprised": ("fear", "surprise"),
    "happily surprised": ("happiness", "surprise"),
    "sadly surprised": ("sadness", "surprise"),
    "disgustedly surprised": ("disgust", "surprise"),
    "angrily surprised": ("anger", "surprise"),
    "sadly fearful": ("sadness", "fear"),
    "sadly angry": ("sadness", "anger"),
}
COMPOUND: tuple[str, ...] = tuple(COMPOUND_PAIRS)
DIMENSIONS: tuple[str, ...] = ("arousal", "valence", "dominance")


@dataclass(frozen=True)
class LabelSpace:
    """What a model predicts, and what the studio shows, asks and exports with it: basic
    classes, compound classes (each a pair of basic ones), dimensions. A model version
    stores its own; models, trainers, compound scores, the Annotate form and the CSV
    columns all read it from there.

    >>> LabelSpace().compound_pairs()[:2]
    [(4, 6), (1, 6)]
    """

    basic: tuple[str, ...] = BASIC
    compound: tuple[str, ...] = COMPOUND
    dimensions: tuple[str, ...] = DIMENSIONS

    def index(self, label: str) -> int:
        return self.basic.index(label)

    @property
    def labels(self) -> tuple[str, ...]:
        """Every class a person may give: the basic ones, then the compounds."""
        return self.basic + self.compound

    def compound_pairs(self) -> list[tuple[int, int]]:
        """For each compound class, the indices of its two basic classes."""
        return [(self.index(a), self.index(b)) for a, b in (COMPOUND_PAIRS[c] for c in self.compound)]

    def to_json(self) -> dict:
        return {"basic": list(self.basic), "compound": list(self.compound), "dimensions": list(self.dimensions)}

    @classmethod
    def from_json(cls, data: dict | None) -> LabelSpace:
        data = data or {}
        return cls(*(tuple(data.get(k, getattr(cls, k))) for k in ("basic", "compound", "dimensions")))


LABELS = LabelSpace()
"""The studio's label space (what the shipped model predicts)."""


# Source class name (lower-cased) -> canonical basic class.
SOURCE_TO_BASIC: dict[str, str] = {
    # canonical names and their spellings across corpora (no one-letter codes: EmoDB's "A"
    # is Angst = fear, where other corpora would read anger)
    "neutral": "neutral",
    "neu": "neutral",
    "happiness": "happiness",
    "happy": "happiness",
    "hap": "happiness",
    "joy": "happiness",
    "joyful": "happiness",
    "sadness": "sadness",
    "sad": "sadness",
    "anger": "anger",
    "angry": "anger",
    "ang": "anger",
    "mad": "anger",
    "fear": "fear",
    "fearful": "fear",
    "fea": "fear",
    "scared": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "dis": "disgust",
    "surprise": "surprise",
    "surprised": "surprise",
    "sur": "surprise",
    # corpus-specific classes, see the module docstring
    "boredom": "neutral",  # EmoDB
    "calm": "neutral",  # RAVDESS
    "contempt": "disgust",  # MEAD
}


class UnknownLabelError(ValueError):
    pass


def canonical_label(raw: str) -> str:
    """Map a corpus class name (any case) to a basic or compound class of the label space.

    >>> canonical_label("Boredom")
    'neutral'
    >>> canonical_label("Happily Surprised")
    'happily surprised'
    """
    key = " ".join(raw.strip().lower().replace("_", " ").split())
    if key in SOURCE_TO_BASIC:
        return SOURCE_TO_BASIC[key]
    if key in COMPOUND_PAIRS:
        return key
    raise UnknownLabelError(f"unknown label {raw.strip()!r} (expected one of: {', '.join(BASIC + COMPOUND)})")


def label_choices(label_set: dict[str, str], labels: LabelSpace) -> dict[str, str]:
    """The names annotators choose from, each with the class of ``labels`` it maps onto:
    the library's ``label_set`` when it has one, else the label space's own classes.

    >>> label_choices({"calm": "Neutral", "frustrated": "anger"}, LabelSpace())
    {'calm': 'neutral', 'frustrated': 'anger'}
    """
    if not label_set:
        return {c: c for c in labels.labels}
    out = {}
    for name, target in label_set.items():
        try:
            cls = canonical_label(target)
        except UnknownLabelError:
            cls = None
        if cls not in labels.labels:
            raise UnknownLabelError(f"the label set maps {name!r} onto {target!r}, which the model does not know")
        out[" ".join(name.split())] = cls
    return out


def class_matching(source: tuple[str, ...], target: tuple[str, ...]) -> list[list[float]]:
    """``[len(source), len(target)]``: 1 where a source model's class, named as the studio
    names it (``canonical_label``), is a target class, 0 elsewhere. Label matching before fusion: a
    face model's probabilities are re-expressed in a model's own label space, whatever
    its classes' order; a class the target lacks (or cannot name) maps to nothing, and
    the matched probabilities are renormalised over what is left.

    >>> class_matching(("happy", "angry", "contempt"), ("anger", "happiness"))
    [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]
    """
    rows = []
    for name in source:
        try:
            canonical = canonical_label(name)
        except UnknownLabelError:
            canonical = None
        rows.append([1.0 if canonical == t else 0.0 for t in target])
    return rows


# Arousal, valence, dominance of each basic emotion, from Russell & Mehrabian (1977)'s
# PAD ratings (reordered to A, V, D). Clip-labelled corpora have no dimensional labels;
# these prototypes are the dimensional targets a clip label implies, until people
# correct curves in the studio.
AVD_PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "neutral": (0.0, 0.0, 0.0),
    "happiness": (0.51, 0.81, 0.46),
    "sadness": (-0.27, -0.63, -0.33),
    "anger": (0.59, -0.51, 0.25),
    "fear": (0.60, -0.64, -0.43),
    "disgust": (0.35, -0.60, 0.11),
    "surprise": (0.67, 0.40, -0.13),
    # source classes folded into neutral keep their own place on the dimensions
    "boredom": (-0.62, -0.65, -0.33),
    "calm": (-0.50, 0.40, 0.20),
}


def avd_prototype(label: str) -> tuple[float, float, float]:
    """The A/V/D prototype of a basic class or a corpus class (e.g. RAVDESS "calm", "happy")."""
    return AVD_PROTOTYPES.get(label) or AVD_PROTOTYPES[canonical_label(label)]
