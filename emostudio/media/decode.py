"""Media decoding with PyAV: probe, content hash, lazy audio reads, sampled video frames.

Every failure is a ``MediaError`` whose message names the file and the problem in
one line, so a batch can report it and go on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from emostudio.core.domain import MediaInfo
from emostudio.core.files import printable

SAMPLE_RATE = 16_000
_PREROLL = 0.5  # seconds decoded before a seek target and dropped
MEDIA_EXTENSIONS = frozenset(".wav .flac .mp3 .ogg .oga .opus .m4a .aac .mp4 .m4v .mkv .webm .mov .avi .flv".split())


class MediaError(Exception):
    """A file that cannot be used as media; ``str(err)`` is '<file>: <problem>'."""

    def __init__(self, path: str | Path, problem: str):
        self.path = printable(str(path))
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def content_hash(path: str | Path) -> str:
    """SHA-256 of the file's bytes, read in blocks (never the whole file at once)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _open(path: str | Path) -> av.container.InputContainer:
    p = Path(path)
    if not p.exists():
        raise MediaError(path, "file not found")
    if p.is_dir():
        raise MediaError(path, "is a folder, not a media file")
    if p.stat().st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    try:
        return av.open(str(p), metadata_errors="ignore")
    except av.FFmpegError as err:
        raise MediaError(path, f"not a readable media file ({_reason(err)})") from err


def _reason(err: Exception) -> str:
    """FFmpeg's own words ("Invalid data found when processing input"), without its errno."""
    return getattr(err, "strerror", None) or str(err)


_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}
_ISO_BMFF = {".mp4", ".m4a", ".m4v", ".mov"}


def _iso_bmff_truncated(path: Path) -> bool:
    """Walk the top-level MP4 boxes: a cut-off file has a box longer than what is left."""
    size = path.stat().st_size
    seen = set()
    with open(path, "rb") as f:
        if f.read(8)[4:8] not in _FIRST_BOXES:
            return False  # not an MP4 at all: opening it says so
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            header = f.read(16)
            box_size, box_type = int.from_bytes(header[:4], "big"), header[4:8]
            if box_size == 1:
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                box_size = size - offset
            if box_size < 8 or offset + box_size > size:
                return True
            seen.add(box_type)
            offset += box_size
    return b"moov" not in seen


def _is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    # An MP3/M4A with embedded artwork exposes it as a one-picture video stream.
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _video_streams(container) -> list:
    return [s for s in container.streams.video if not _is_cover_art(s)]


def probe(path: str | Path) -> MediaInfo:
    """Streams, duration, sample rate, channels, fps and frame size, read from headers."""
    p = Path(path)
    # A cut-off MP4 may still open (when its index comes first) and decode short without
    # any error, so check its box structure, which says how long the file should be.
    # Done here, once per import, not in _open, which every audio/frame read goes through.
    if p.suffix.lower() in _ISO_BMFF and p.is_file() and p.stat().st_size and _iso_bmff_truncated(p):
        raise MediaError(
            path, "truncated or incomplete MP4/MOV (a box runs past the end of the file, or 'moov' is missing)"
        )
    with _open(path) as c:
        audio = c.streams.audio[0] if c.streams.audio else None
        videos = _video_streams(c)
        video = videos[0] if videos else None
        if audio is None and video is None:
            raise MediaError(path, "no audio or video stream")
        duration = _duration(c, [s for s in (audio, video) if s is not None])
        if duration is None or duration <= 0:
            raise MediaError(path, "duration unknown or zero (empty or truncated stream)")
        fps = None
        if video is not None:
            rate = video.average_rate or video.base_rate or video.guessed_rate
            fps = float(rate) if rate else None
        return MediaInfo(
            container=c.format.name,
            duration=duration,
            has_audio=audio is not None,
            has_video=video is not None,
            audio_codec=audio.codec_context.name if audio else None,
            sample_rate=audio.codec_context.sample_rate if audio else None,
            channels=audio.codec_context.channels if audio else None,
            video_codec=video.codec_context.name if video else None,
            fps=fps,
            width=video.codec_context.width if video else None,
            height=video.codec_context.height if video else None,
        )


def usable_streams(path: str | Path, info: MediaInfo) -> tuple[MediaInfo, str | None]:
    """``info`` without a video track that cannot be decoded (declared 0x0, or no first
    frame), and a note saying so; a file left with nothing usable is a ``MediaError``."""
    if not info.has_video:
        return info, None
    problem = None
    if not info.width or not info.height:
        problem = f"declares a {info.width or 0}x{info.height or 0} picture"
    else:
        try:
            if next(iter_frames(path, fps=1.0, duration=min(info.duration, 5.0)), None) is None:
                problem = "has no decodable frame in its first seconds"
        except MediaError as err:
            problem = err.problem
    if problem is None:
        return info, None
    if not info.has_audio:
        raise MediaError(path, f"the video track cannot be used ({problem}) and there is no audio")
    audio_only = replace(info, has_video=False, video_codec=None, fps=None, width=None, height=None)
    return audio_only, f"the video track cannot be used ({problem}); imported as audio only"


def _duration(container, streams) -> float | None:
    if container.duration:
        return container.duration / av.time_base
    spans = [float(s.duration * s.time_base) for s in streams if s.duration and s.time_base]
    return max(spans) if spans else None


def _seek(container, time: float) -> None:
    """Seek to the keyframe before ``time``; where a demuxer cannot seek, decode from the start."""
    if time <= 0:
        return
    try:
        container.seek(int(time * av.time_base), any_frame=False)
    except av.FFmpegError:
        container.seek(0)


def load_audio(
    path: str | Path,
    start: float = 0.0,
    duration: float | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Decode ``[start, start + duration)`` of the first audio stream to mono float32.

    Samples are placed on the media's timeline: if the stream begins after ``start``
    the gap is zero-filled, so audio stays aligned with video frames.
    """
    end = None if duration is None else start + duration
    with _open(path) as c:
        if not c.streams.audio:
            raise MediaError(path, "no audio stream")
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        # Seek a little early: MP3's bit reservoir and the resampler's filter both
        # need some input before the requested start to produce exact samples.
        _seek(c, start - _PREROLL)
        pieces: list[np.ndarray] = []
        first_time: float | None = None
        t = start
        try:
            for frame in c.decode(stream):
                t = frame.time if frame.time is not None else t
                if first_time is None:
                    first_time = t
                if end is not None and t >= end:
                    break
                pieces.extend(f.to_ndarray()[0] for f in resampler.resample(frame))
        except av.FFmpegError as err:
            raise MediaError(path, f"audio cannot be decoded at {t:.2f} s ({_reason(err)})") from err
        pieces.extend(f.to_ndarray()[0] for f in resampler.resample(None))
    samples = np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, np.float32)
    offset = round(((first_time or 0.0) - start) * sample_rate)
    if offset > 0:
        samples = np.concatenate([np.zeros(offset, np.float32), samples])
    elif offset < 0:
        samples = samples[-offset:]
    if duration is not None:
        samples = samples[: round(duration * sample_rate)]
    return samples


def iter_frames(
    path: str | Path,
    fps: float = 2.0,
    start: float = 0.0,
    duration: float | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(time, rgb_uint8[h, w, 3])`` about ``fps`` times a second, one frame in memory at a time."""
    end = None if duration is None else start + duration
    step = 1.0 / fps
    with _open(path) as c:
        streams = _video_streams(c)
        if not streams:
            raise MediaError(path, "no video stream")
        stream = streams[0]
        stream.thread_type = "AUTO"
        _seek(c, start)
        next_time = start
        t = start
        try:
            for frame in c.decode(stream):
                if frame.time is None:
                    continue
                t = frame.time
                if end is not None and t >= end:
                    break
                if t + 1e-6 < next_time:
                    continue
                yield t, frame.to_ndarray(format="rgb24")
                next_time += step * max(1, int((t - next_time) / step) + 1)
        except av.FFmpegError as err:
            raise MediaError(path, f"video cannot be decoded at {t:.2f} s ({_reason(err)})") from err
