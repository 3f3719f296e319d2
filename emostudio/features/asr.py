"""Speech recognition with Whisper tiny.en (offline, CTranslate2) for media without a transcript.

Whisper only ever hears speech: it runs on the voice-activity regions (joined when
close, cut to at most ``MAX_REGION`` seconds), never on silence or music, where it
invents text ("Thank you for watching!") and its decoder loops. An hour of silence
costs nothing, and memory holds one region of audio at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emostudio.core.domain import Media, Segment
from emostudio.features.audio import whisper_model
from emostudio.media.decode import SAMPLE_RATE, load_audio

ASR_SOURCE = "asr:whisper-tiny.en"
PAD = 0.2  # seconds of context either side of a speech region
JOIN_GAP = 1.0  # regions closer than this are recognised together (sentences run across short pauses)
MAX_REGION = 28.0  # Whisper's window is 30 s


def speech_regions(speech: Sequence[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """``(start, end)`` regions to transcribe: the speech spans padded, joined across short
    gaps and cut so none is longer than ``MAX_REGION``."""
    regions: list[list[float]] = []
    for start, length in sorted(speech):
        lo, hi = max(0.0, start - PAD), min(duration, start + length + PAD)
        if regions and lo - regions[-1][1] < JOIN_GAP and hi - regions[-1][0] <= MAX_REGION:
            regions[-1][1] = max(regions[-1][1], hi)
            continue
        while hi - lo > MAX_REGION:  # one long stretch of speech: consecutive windows
            regions.append([lo, lo + MAX_REGION])
            lo += MAX_REGION
        regions.append([lo, hi])
    return [(lo, hi) for lo, hi in regions if hi - lo >= 0.1]


def transcribe(media: Media, audio: np.ndarray | None, speech: Sequence[tuple[float, float]]) -> list[Segment]:
    """Transcript spans with times, recognised inside ``speech`` (``(start, duration)``
    spans); ``audio`` is the whole track when the caller has it, else each region is
    decoded on its own. Greedy decoding: it is a feature, not a record."""
    spans = []
    for lo, hi in speech_regions(speech, media.duration):
        if audio is not None:
            piece = audio[int(lo * SAMPLE_RATE) : int(hi * SAMPLE_RATE)]
        else:
            piece = load_audio(media.path, start=lo, duration=hi - lo)
        if len(piece) < SAMPLE_RATE // 10:
            continue
        pieces, _ = whisper_model().transcribe(
            piece, language="en", beam_size=1, condition_on_previous_text=False, vad_filter=False
        )
        for p in pieces:
            text = p.text.strip()
            if text and p.no_speech_prob < 0.6:
                start = max(0.0, lo + float(p.start))
                end = min(hi, lo + float(p.end))
                if end > start:
                    spans.append(
                        Segment(None, media.id, "transcript", start, end - start, text=text, source=ASR_SOURCE)
                    )
    return spans
