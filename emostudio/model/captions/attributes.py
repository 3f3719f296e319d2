"""What a caption may say about a span: the voice measured from the prosody frames (pitch
level and range, loudness, speaking rate, pauses), each placed against a reference, and
the model's reading of the span (emotions, arousal, the face, the words).

The reference is the speaker's own baseline when the media holds enough of their speech
(``BASELINE_MIN_WINDOWS`` windows of ``BASELINE_WINDOW`` seconds), else population norms
measured on the training corpora (``captioner.json``, written by
``emostudio.trainers.caption_defaults``). A level is "high" or "low" when the span lies
``LEVEL_Z`` deviations or more from the reference's mean.

No gender is ever said: the studio has no model for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from emostudio.model.captions.phrases import VOICE_ATTRIBUTES, Claim, Level

PROSODY_RATE = 100.0  # frames per second of the ``prosody`` extractor
MIN_VOICED = 30  # frames (0.3 s) of voiced speech before pitch or loudness is measured
MIN_SPAN_FOR_RATE = 1.0  # seconds: the rate channel counts syllable nuclei over one second
MIN_SPAN_FOR_PAUSES = 1.5
PAUSE_FRAMES = 25  # an unvoiced run of 250 ms or more is a pause (consonants are shorter)
LEVEL_Z = 1.0
BASELINE_WINDOW, BASELINE_HOP, BASELINE_MIN_WINDOWS = 3.0, 1.5, 8
SD_FLOOR = (
    0.25  # a speaker's spread is floored at a quarter of the population's (a steady speaker is not "all extremes")
)
SECOND_EMOTION_MIN = 0.2  # a second emotion is named only when the model gives it this much
COMPOUND_MIN = 0.35
FACE_MIN = 0.4
AROUSAL_LEVEL = 0.3


def measure_voice(frames: np.ndarray) -> dict[str, float | None]:
    """The voice measures of prosody frames ``[N, 4]`` (log pitch, voicing, loudness / 20,
    nuclei per second): None where the span holds too little speech to measure it.

    pitch: median in semitones re 1 Hz; pitch_range: a robust deviation in semitones
    (10th to 90th percentile / 2.56, so octave errors weigh little); loudness: mean dB of
    the voiced frames; rate: syllable nuclei per second while voiced; pauses: the share of
    the span, from the first voiced frame to the last, in pauses of 250 ms or more."""
    out: dict[str, float | None] = dict.fromkeys(VOICE_ATTRIBUTES)
    if len(frames) == 0:
        return out
    voiced = frames[:, 1] > 0.5
    n = int(voiced.sum())
    if n >= MIN_VOICED:
        semitones = 12.0 * frames[voiced, 0] / math.log(2.0)
        out["pitch"] = float(np.median(semitones))
        p10, p90 = np.percentile(semitones, [10, 90])
        out["pitch_range"] = float((p90 - p10) / 2.56)
        out["loudness"] = float(np.mean(frames[voiced, 2]) * 20.0)
        if len(frames) >= MIN_SPAN_FOR_RATE * PROSODY_RATE:
            out["rate"] = float(np.mean(frames[voiced, 3]))
    if n:
        first, last = np.flatnonzero(voiced)[[0, -1]]
        inside = ~voiced[first : last + 1]
        if (last - first + 1) >= MIN_SPAN_FOR_PAUSES * PROSODY_RATE:
            runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(int), [0]]))))[::2]
            out["pauses"] = float(runs[runs >= PAUSE_FRAMES].sum() / len(inside))
    return out


@dataclass(frozen=True)
class Norms:
    """Mean and deviation of each voice measure, over clips (population) or over one media's windows (a speaker)."""

    mean: dict[str, float]
    sd: dict[str, float]
    source: str = "population"

    @classmethod
    def from_json(cls, data: dict) -> Norms:
        return cls(dict(data["mean"]), dict(data["sd"]), data.get("source", "population"))

    def to_json(self) -> dict:
        return {"mean": self.mean, "sd": self.sd, "source": self.source}


def speaker_baseline(frames: np.ndarray, population: Norms) -> Norms | None:
    """The speaker's own norms from a whole media's prosody frames (windows of
    ``BASELINE_WINDOW`` s), or None when it holds too little speech for one."""
    width, hop = int(BASELINE_WINDOW * PROSODY_RATE), int(BASELINE_HOP * PROSODY_RATE)
    windows = [measure_voice(frames[i : i + width]) for i in range(0, max(0, len(frames) - width) + 1, hop)]
    mean, sd = {}, {}
    for name in VOICE_ATTRIBUTES:
        values = [w[name] for w in windows if w[name] is not None]
        if len(values) < BASELINE_MIN_WINDOWS:
            return None
        mean[name] = float(np.mean(values))
        sd[name] = max(float(np.std(values)), SD_FLOOR * population.sd[name])
    return Norms(mean, sd, source="speaker")


@dataclass(frozen=True)
class Measured:
    """One voice measure of a span and where it stands against its reference."""

    value: float
    z: float
    level: Level
    reference: str


def place(values: dict[str, float | None], norms: Norms) -> dict[str, Measured]:
    """Each measured value as a level against ``norms`` (measures that are None are left out)."""
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        z = (value - norms.mean[name]) / max(norms.sd[name], 1e-6)
        level = "high" if z >= LEVEL_Z else "low" if z <= -LEVEL_Z else "normal"
        out[name] = Measured(value, float(z), level, norms.source)
    return out


@dataclass(frozen=True)
class Facts:
    """Everything a caption of one span may claim: its measured voice, and the model's
    reading of it. ``allowed()`` is the set of claims that do not contradict them."""

    start: float
    duration: float
    voice: dict[str, Measured]
    emotions: dict[str, float]
    compound: dict[str, float] = field(default_factory=dict)
    arousal: float | None = None
    face: dict[str, float] | None = None
    quote: str | None = None
    """Transcript text the text branch read (None when there is none, or it judged it unreliable)."""
    language: str | None = None
    """The detected spoken language (ISO 639-1) when it is not English."""

    @property
    def top(self) -> str:
        return max(self.emotions, key=self.emotions.get)

    def ranked(self) -> list[str]:
        return sorted(self.emotions, key=self.emotions.get, reverse=True)

    def arousal_level(self) -> Level | None:
        if self.arousal is None:
            return None
        return "high" if self.arousal >= AROUSAL_LEVEL else "low" if self.arousal <= -AROUSAL_LEVEL else "normal"

    def named_emotions(self) -> list[str]:
        """The emotions a caption may name: the top one, and the next when the model gives it enough."""
        first, *rest = self.ranked()
        return [first] + [e for e in rest[:1] if self.emotions[e] >= SECOND_EMOTION_MIN]

    def named_compound(self) -> str | None:
        if not self.compound:
            return None
        best = max(self.compound, key=self.compound.get)
        return best if self.compound[best] >= COMPOUND_MIN else None

    def face_label(self) -> str | None:
        if not self.face:
            return None
        best = max(self.face, key=self.face.get)
        return best if self.face[best] >= FACE_MIN else None

    def allowed(self) -> set[Claim]:
        claims: set[Claim] = {(name, m.level) for name, m in self.voice.items()}
        claims |= {("emotion", e) for e in self.named_emotions()}
        if self.arousal_level() in ("high", "low"):
            claims.add(("arousal", self.arousal_level()))
        if self.face_label():
            claims.add(("face", self.face_label()))
        if self.language:
            claims.add(("language", self.language))
        return claims
