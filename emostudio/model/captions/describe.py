"""A media's spans (the clip and each speech segment) as ``Facts``, and their captions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from emostudio.core.domain import Prediction, Segment
from emostudio.model.captions.attributes import PROSODY_RATE, Facts, Norms, measure_voice, place, speaker_baseline
from emostudio.model.captions.captioner import Captioner, seed_of


@dataclass(frozen=True)
class SpanCaption:
    """A caption of the whole media (``start`` None) or of one of its segments."""

    start: float | None
    duration: float | None
    text: str
    score: float


def _overlapping(transcript: list[Segment], start: float, end: float) -> list[Segment]:
    return [
        s for s in transcript if min(end, s.end) - max(start, s.start) > 0.5 * max(min(s.duration, end - start), 1e-3)
    ]


def span_facts(
    prediction: Prediction,
    frames: np.ndarray | None,
    reference: Norms,
    transcript: list[Segment],
    read: list[Segment],
) -> Facts:
    """What a caption of ``prediction``'s span may say. ``transcript``: every transcript
    span of the media; ``read``: those the text branch read (the others are never quoted)."""
    start, end = prediction.start, prediction.end
    voice = {}
    if frames is not None:
        lo, hi = int(round(start * PROSODY_RATE)), int(round(end * PROSODY_RATE))
        voice = place(measure_voice(frames[lo:hi]), reference)
    heard = _overlapping(transcript, start, end)
    read_ids = {(s.start, s.duration, s.text) for s in read}
    quoted = [s.text.strip() for s in heard if (s.start, s.duration, s.text) in read_ids and s.text and s.text.strip()]
    languages = Counter(s.language for s in heard if s.language)
    language = languages.most_common(1)[0][0] if languages else None
    face = prediction.modalities.get("face")
    if face is not None and face.get("weight", 0.0) > 0.05:
        face = {k: v for k, v in face.items() if k != "weight"}
    else:
        face = None
    return Facts(
        start,
        prediction.duration,
        voice,
        dict(prediction.basic),
        dict(prediction.compound),
        prediction.arousal,
        face,
        " ".join(quoted) or None,
        None if language in (None, "en") else language,
    )


def span_audio(vectors: np.ndarray | None, chunk_starts: np.ndarray, step: float, start: float, end: float):
    """The mean projected audio of the chunks whose centres lie in ``[start, end)`` (None without audio)."""
    if vectors is None or not len(vectors):
        return None
    centres = chunk_starts + step / 2
    inside = (centres >= start) & (centres < end)
    if not inside.any():
        inside[np.argmin(np.abs(centres - (start + end) / 2))] = True
    return vectors[inside].mean(0)


def shares_clip_caption(segment: Prediction, segments: list[Prediction], clip: Prediction, baseline) -> bool:
    """A short clip's one stretch of speech, measured against the same norms as the clip:
    the same facts, so the same caption (one sentence to embed, not two)."""
    return baseline is None and (len(segments) == 1 or segment.duration >= 0.9 * clip.duration)


def caption_spans(
    captioner: Captioner,
    media_id: str,
    clip: Prediction,
    segments: list[Prediction],
    frames: np.ndarray | None,
    transcript: list[Segment],
    read: list[Segment],
    vectors: np.ndarray | None,
    chunk_starts: np.ndarray,
    step: float,
    avoid: str | None = None,
) -> list[SpanCaption]:
    """The clip's caption (its voice against population norms) and each segment's (against
    the speaker's own baseline where the media holds enough speech for one). A short clip's
    only segment gets the clip's caption; two segments in a row never get the same sentence."""
    population = captioner.norms
    baseline = speaker_baseline(frames, population) if frames is not None else None
    own = [(p, baseline or population) for p in segments if not shares_clip_caption(p, segments, clip, baseline)]
    spans = []  # (prediction, facts, audio, candidates): the clip first, then the segments with their own caption
    for p, reference in [(clip, population), *own]:
        facts = span_facts(p, frames, reference, transcript, read)
        audio = span_audio(vectors, chunk_starts, step, p.start, p.end)
        spans.append((p, facts, audio, captioner.candidates(facts, audio, seed_of(media_id, round(p.start, 2)))))
    every = [t for *_, texts in spans for t in texts]
    if len(every) <= captioner.embed.size // 2:  # one batch for a short media (a long one: span by span)
        captioner.embed(every)
    (_, facts, audio, texts), *rest = spans
    best = captioner.caption(facts, audio, avoid=avoid, texts=texts)
    out = [SpanCaption(None, None, best.text, best.reward)]
    previous, own_spans = None, iter(rest)  # in segment order
    for p in segments:
        if shares_clip_caption(p, segments, clip, baseline):
            scored = best
        else:
            _, facts, audio, texts = next(own_spans)
            scored = captioner.caption(facts, audio, avoid=previous, texts=texts)
        out.append(SpanCaption(p.start, p.duration, scored.text, scored.reward))
        previous = scored.text
    return out
