"""Builders for tests: media written with PyAV / soundfile, and a temporary database.

Speech comes from ``tests/fixtures/speech_en.flac`` (synthetic, espeak-ng), so tests
exercise real decoding and real VAD without any corpus.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from db.repository import Repository
from db.session import open_database

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SPEECH_RATE = 16_000


def speech(seconds: float | None = None, sample_rate: int = SPEECH_RATE) -> np.ndarray:
    """The fixture sentence as mono float32 at ``sample_rate`` (looped or cut to ``seconds``)."""
    x, sr = sf.read(FIXTURES / "speech_en.flac", dtype="float32")
    if sr != sample_rate:
        t = np.arange(int(len(x) * sample_rate / sr)) / sample_rate
        x = np.interp(t, np.arange(len(x)) / sr, x).astype(np.float32)
    if seconds is not None:
        n = int(seconds * sample_rate)
        x = np.resize(x, n) if n > len(x) else x[:n]
    return x


def tone(seconds: float, freq: float = 440.0, sample_rate: int = SPEECH_RATE) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_audio(path: Path, signal: np.ndarray, sample_rate: int = SPEECH_RATE, channels: int = 1) -> Path:
    """Write ``signal`` with soundfile (wav, flac, ogg, mp3) or PyAV (m4a/aac, opus)."""
    data = np.repeat(signal[:, None], channels, axis=1) if channels > 1 else signal
    if path.suffix in (".wav", ".flac", ".ogg", ".mp3"):
        sf.write(path, data, sample_rate)
        return path
    return write_av(path, audio=signal, sample_rate=sample_rate, video_seconds=None)


_CODECS = {  # container -> (video codec, audio codec)
    ".mp4": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "libopus"),
    ".webm": ("libvpx-vp9", "libopus"),
    ".avi": ("mpeg4", "libmp3lame"),
    ".flv": ("flv", "libmp3lame"),
    ".m4a": (None, "aac"),
    ".opus": (None, "libopus"),
}


def write_av(
    path: Path,
    *,
    video_seconds: float | None = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (160, 120),
    audio: np.ndarray | None = None,
    sample_rate: int = SPEECH_RATE,
    picture: np.ndarray | None = None,
) -> Path:
    """Write a container with a video track and/or an audio track.

    The video is a moving gradient, or ``picture`` (RGB, e.g. a face) drifting slowly.
    """
    vcodec, acodec = _CODECS[path.suffix]
    with av.open(str(path), "w") as out:
        vstream = astream = None
        if video_seconds is not None:
            vstream = out.add_stream(vcodec, rate=fps)
            vstream.width, vstream.height = size
            vstream.pix_fmt = "yuv420p"
        if audio is not None:
            # Opus only encodes 48 kHz; FLV only carries MP3 at 44.1 kHz and its halves.
            out_rate = {"libopus": 48_000}.get(acodec, 22_050 if path.suffix == ".flv" else sample_rate)
            astream = out.add_stream(acodec, rate=out_rate)
            astream.layout = "mono"
        if vstream is not None:
            w, h = size
            for i in range(int(video_seconds * fps)):
                if picture is not None:
                    img = np.roll(picture, i % 8, axis=1)[:h, :w].copy()
                    out.mux(vstream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
                    continue
                img = np.zeros((h, w, 3), np.uint8)
                img[..., 0] = (np.arange(w)[None, :] + 4 * i) % 256
                img[..., 1] = (np.arange(h)[:, None] * 2) % 256
                img[h // 4 : h // 2, (2 * i) % w : (2 * i) % w + 16, 2] = 255
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                out.mux(vstream.encode(frame))
            out.mux(vstream.encode(None))
        if astream is not None:
            signal = audio
            if astream.rate != sample_rate:
                t = np.arange(int(len(audio) * astream.rate / sample_rate)) / astream.rate
                signal = np.interp(t, np.arange(len(audio)) / sample_rate, audio).astype(np.float32)
            block = 1024
            for i in range(0, len(signal), block):
                chunk = signal[i : i + block]
                frame = av.AudioFrame.from_ndarray(chunk[None, :].astype(np.float32), format="flt", layout="mono")
                frame.sample_rate = astream.rate
                frame.pts = i
                frame.time_base = Fraction(1, astream.rate)
                out.mux(astream.encode(frame))
            out.mux(astream.encode(None))
    return path


def face_picture(size: tuple[int, int] = (256, 256)) -> np.ndarray:
    """A real photographed face (scikit-image's public-domain astronaut portrait), RGB."""
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), size, interpolation=cv2.INTER_AREA)


def temp_repository(tmp_path: Path) -> Repository:
    """A fresh, migrated SQLite database under ``tmp_path``."""
    return Repository(open_database(f"sqlite:///{tmp_path / 'emostudio.db'}"))
