"""Speech recognition with Whisper tiny.en (offline, CTranslate2) for media without a transcript."""

from __future__ import annotations

from emostudio.domain import Media, Segment
from emostudio.features.audio import whisper_model
from emostudio.media import load_audio

ASR_SOURCE = "asr:whisper-tiny.en"


def transcribe(media: Media, audio=None) -> list[Segment]:
    """Transcript spans with times; empty for silence. Greedy decoding: it is a feature, not a record."""
    audio = load_audio(media.path) if audio is None else audio
    if len(audio) < 1600:
        return []
    pieces, _ = whisper_model().transcribe(
        audio, language="en", beam_size=1, condition_on_previous_text=False, vad_filter=False
    )
    spans = []
    for piece in pieces:
        text = piece.text.strip()
        if text and piece.no_speech_prob < 0.6:
            start = max(0.0, float(piece.start))
            end = min(media.duration, float(piece.end))
            if end > start:
                spans.append(Segment(None, media.id, "transcript", start, end - start, text=text, source=ASR_SOURCE))
    return spans
