"""Extractors by name. ``hf:<folder>`` names a Hugging Face encoder saved locally."""

from __future__ import annotations

from typing import Callable

from emostudio.features.base import ExtractorUnavailable, FeatureExtractor

_FACTORIES: dict[str, Callable[..., FeatureExtractor]] = {}


def register_extractor(name: str, factory: Callable[..., FeatureExtractor]) -> None:
    _FACTORIES[name] = factory


def get_extractor(name: str, **options) -> FeatureExtractor:
    """An extractor instance; raises ExtractorUnavailable (optional package missing) or KeyError."""
    if name.startswith("hf:"):
        from emostudio.features.audio import HuggingFaceEncoder

        return HuggingFaceEncoder(name[3:])
    if name not in _FACTORIES:
        raise KeyError(f"unknown feature extractor {name!r} (known: {', '.join(sorted(_FACTORIES))}, hf:<folder>)")
    return _FACTORIES[name](**options)


def available_extractors() -> dict[str, str]:
    """Each registered name -> "ok" or why it cannot run here."""
    status = {}
    for name in sorted(_FACTORIES):
        try:
            get_extractor(name)
            status[name] = "ok"
        except ExtractorUnavailable as err:
            status[name] = str(err)
    return status


def _register_builtins() -> None:
    from emostudio.features import audio, face, text

    register_extractor("logmel", audio.LogMel)
    register_extractor("waveform-peaks", audio.WaveformPeaks)
    register_extractor("prosody", audio.Prosody)
    register_extractor("whisper-tiny.en", audio.WhisperEncoder)
    register_extractor("opensmile-egemaps", audio.OpenSmileLLD)
    register_extractor("face-fer2013", face.FaceExpression)
    register_extractor("face-fer2013-embedding", face.FaceEmbedding)
    register_extractor("text-minilm", text.TextEmbedding)
    register_extractor("text-use-m3", text.MultilingualTextEmbedding)


_register_builtins()
