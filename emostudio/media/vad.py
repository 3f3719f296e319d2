"""Speech segments from silero-vad, whose weights ship inside the ``silero-vad`` package."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version

import numpy as np
import torch

from emostudio.core.domain import Media, Segment
from emostudio.media.decode import SAMPLE_RATE, load_audio

VAD_SOURCE = f"silero-vad {version('silero-vad')}"


def _import_silero():
    """silero-vad's module sets ``torch.set_num_threads(1)`` when imported, which would
    halve every torch model run after it (the emotion model, the sentence encoder): the
    process's thread count is put back."""
    threads = torch.get_num_threads()
    import silero_vad

    torch.set_num_threads(threads)
    return silero_vad


@lru_cache(maxsize=1)
def _model():
    return _import_silero().load_silero_vad()


def detect_speech(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    threshold: float = 0.5,
    min_speech: float = 0.25,
    min_silence: float = 0.1,
) -> list[tuple[float, float]]:
    """Speech regions of mono ``audio`` as ``(start, duration)`` in seconds."""
    if audio.size < sample_rate // 10:
        return []
    spans = _import_silero().get_speech_timestamps(
        torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
        _model(),
        sampling_rate=sample_rate,
        threshold=threshold,
        min_speech_duration_ms=int(min_speech * 1000),
        min_silence_duration_ms=int(min_silence * 1000),
    )
    # The silero model keeps state between calls; reset so results don't depend on the previous file.
    _model().reset_states()
    return [(s["start"] / sample_rate, (s["end"] - s["start"]) / sample_rate) for s in spans]


VAD_BLOCK_SECONDS = 600.0  # 10 min of 16 kHz float32 = 38 MB decoded at a time


def speech_segments(media: Media) -> list[Segment]:
    """VAD over the whole track, decoded in blocks so memory stays flat on hour-long files.

    Decoding every block also surfaces damaged audio as a MediaError before anything is stored.
    """
    if not media.info.has_audio:
        return []
    spans: list[tuple[float, float]] = []
    block_start = 0.0
    while block_start < media.duration:
        audio = load_audio(media.path, start=block_start, duration=VAD_BLOCK_SECONDS)
        for start, duration in detect_speech(audio):
            start += block_start
            # speech running across a block boundary comes back as two touching spans: join them
            if spans and start - sum(spans[-1]) < 0.05 and abs(start - block_start) < 0.05:
                spans[-1] = (spans[-1][0], start + duration - spans[-1][0])
            else:
                spans.append((start, duration))
        block_start += VAD_BLOCK_SECONDS
    return [
        Segment(id=None, media_id=media.id, kind="speech", start=start, duration=duration, source=VAD_SOURCE)
        for start, duration in spans
    ]
