"""Sidecar transcripts (.srt, .vtt, .txt with the media's stem) as timed text spans."""

from __future__ import annotations

from pathlib import Path

import pysubs2

TRANSCRIPT_EXTENSIONS = (".srt", ".vtt", ".txt")


class TranscriptError(Exception):
    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def find_sidecar(media_path: Path) -> Path | None:
    for ext in TRANSCRIPT_EXTENSIONS:
        candidate = media_path.with_suffix(ext)
        if candidate.is_file():
            return candidate
    return None


def read_text(path: Path, encoding: str = "utf-8") -> str:
    try:
        return path.read_bytes().decode("utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as err:
        raise TranscriptError(
            path,
            f"not {encoding} text (byte 0x{err.object[err.start]:02x} at offset {err.start}); "
            "re-save it as UTF-8 or pass --transcript-encoding (e.g. latin-1)",
        ) from None
    except LookupError:
        raise TranscriptError(path, f"unknown text encoding {encoding!r}") from None


def load_transcript(path: Path, media_duration: float, encoding: str = "utf-8") -> list[tuple[float, float, str]]:
    """``(start, duration, text)`` spans; a plain .txt covers the whole media."""
    text = read_text(path, encoding)
    if path.suffix.lower() == ".txt":
        body = " ".join(text.split())
        return [(0.0, media_duration, body)] if body else []
    try:
        subs = pysubs2.SSAFile.from_string(text, format_=path.suffix.lower().lstrip("."))
    except Exception as err:  # pysubs2 raises several unrelated types for malformed files
        raise TranscriptError(path, f"not a valid subtitle file ({err})") from None
    if not subs.events and text.strip():
        raise TranscriptError(path, f"no {path.suffix.lower()} cues found (malformed subtitle file?)")
    spans = []
    for event in subs:
        line = " ".join(event.plaintext.split())
        if line and event.end > event.start:
            spans.append((event.start / 1000, (event.end - event.start) / 1000, line))
    return spans


EDIT_SOURCE = "edit:"
"""The source of a transcript a person corrected in the studio: ``edit:<annotator>:<n>``."""


def current_transcript(segments: list) -> list:
    """The newest version of a media's transcript: its transcript segments share a source
    (a sidecar file, speech recognition, or a person's edit), and the version added last
    (the highest segment id) is the one that counts; the older ones stay stored."""
    versions: dict[str | None, list] = {}
    for s in segments:
        if s.kind == "transcript":
            versions.setdefault(s.source, []).append(s)
    if not versions:
        return []
    newest = max(versions.values(), key=lambda spans: max(int(s.id or 0) for s in spans))
    return sorted(newest, key=lambda s: s.start)
