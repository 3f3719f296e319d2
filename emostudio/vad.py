"""Speech segments from silero-vad, whose weights ship inside the ``silero-vad`` package."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version

import numpy as np
import torch

from emostudio.media import SAMPLE_RATE

VAD_SOURCE = f"silero-vad {version('silero-vad')}"


@lru_cache(maxsize=1)
def _model():
    from silero_vad import load_silero_vad

    return load_silero_vad()


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
    from silero_vad import get_speech_timestamps

    spans = get_speech_timestamps(
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
