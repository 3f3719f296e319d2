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

from emostudio.db.repository import Repository
from emostudio.db.session import open_database

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


def tiny_model(folder: Path, hidden: int = 16, seed: int = 0) -> Path:
    """The debug model: an untrained chunk model reading log-mel features only, small
    enough that a trainer finishes its steps on a CPU in seconds."""
    import torch

    from emostudio.core.timegrid import CHUNKS
    from emostudio.model.network import ChunkEmotionModel, ChunkModelConfig, save_model

    torch.manual_seed(seed)
    config = ChunkModelConfig(
        audio_dim=2 * 64 * len(CHUNKS.scales),  # log-mel: mean and deviation per window scale
        audio_extractors=("logmel",),
        text_extractor="text-minilm",
        text_dim=384,
        hidden=hidden,
    )
    return save_model(ChunkEmotionModel(config), folder)


def tiny_language_model(folder: Path, texts: list[str]) -> Path:
    """A randomly initialised two-layer GPT-2 with a word-level tokenizer over ``texts``:
    the generative caption mode's debug model (``caption_lm``), saved as transformers saves one."""
    import re

    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t)})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[EOS]", *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    )
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=2,
        eos_token_id=2,
        pad_token_id=0,
    )
    folder.mkdir(parents=True, exist_ok=True)
    GPT2LMHeadModel(config).save_pretrained(folder)
    wrapped.save_pretrained(folder)
    return folder


# -- a studio running as users run it: `emostudio serve` in its own process ----------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StudioProcess:
    """``emostudio serve`` on a free port with its own data folder (and worker, unless
    ``worker=False``); ``url`` is where it answers. Stop it with ``stop()`` (SIGTERM, as a
    process manager would) or ``kill()`` (SIGKILL: a crash)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        worker: bool = True,
        env: dict | None = None,
        timeout: float = 120.0,
        args: tuple[str, ...] = (),
    ):
        import os
        import subprocess
        import sys

        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "EMOSTUDIO_DATA_DIR": str(self.data_dir),
            "EMOSTUDIO_WORKER_POLL_SECONDS": "0.3",
            "EMOSTUDIO_HEARTBEAT_SECONDS": "1",
            **(env or {}),
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - open for the process's lifetime
        cmd = [sys.executable, "-m", "emostudio.cli", "serve", "--port", str(self.port), *args]
        if not worker:
            cmd.append("--no-worker")
        self.proc = subprocess.Popen(
            cmd, cwd=Path(__file__).resolve().parents[1], env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import time
        import urllib.error
        import urllib.request

        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(self.url + "gradio_api/info", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answers (401 when sign-in is required)
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("the studio did not start:\n" + self.log()) from None
                time.sleep(0.3)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self._log.close()

    def kill(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def __enter__(self) -> "StudioProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def add_user(data_dir: Path, name: str, role: str, password: str) -> None:
    """Add a studio user through the command line, as an administrator would."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data_dir)}
    subprocess.run(
        [sys.executable, "-m", "emostudio.cli", "users", "add", name, "--role", role, "--password-stdin"],
        input=password + "\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )


def signed_in_client(url: str, name: str | None = None, password: str | None = None):
    """An ``httpx.Client`` on the studio, signed in through its login route when a name is given."""
    import httpx

    client = httpx.Client(base_url=url, timeout=60)
    if name is not None:
        r = client.post("login", data={"username": name, "password": password})
        r.raise_for_status()
    return client
