"""From a media to clip- and chunk-level predictions: decode once, extract (cached)
features per modality, cut chunks, run the model, and turn tensors into ``Prediction``s."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from emostudio.core.config import torch_device
from emostudio.core.domain import Caption, Chunk, Media, Prediction, Segment, media_id
from emostudio.core.errors import StudioError
from emostudio.core.series import ChunkSeries
from emostudio.core.timegrid import FrameRate
from emostudio.db.repository import Repository
from emostudio.features import FeatureCache, FeatureExtractor, FeatureInput, Features, get_extractor
from emostudio.features.asr import transcribe
from emostudio.features.audio import audio_of
from emostudio.features.base import ExtractorUnavailable
from emostudio.features.thumbnails import save_face_thumbnails
from emostudio.media.decode import SAMPLE_RATE, MediaError, content_hash, load_audio, probe
from emostudio.media.transcripts import current_transcript
from emostudio.media.vad import speech_segments
from emostudio.model.captions.captioner import Captioner, load_captioner
from emostudio.model.captions.describe import caption_spans
from emostudio.model.chunk_inputs import ChunkInputs, build_chunk_inputs
from emostudio.model.network import (
    MODALITIES,
    ChunkEmotionModel,
    ChunkOutputs,
    ModelInputs,
    compound_scores,
    default_model_path,
    load_model,
)
from emostudio.model.segments import annotation_units, segment_predictions

LONG_MEDIA = 20 * 60.0  # longer media are analysed a block at a time
# block core and the context either side (seconds): both multiples of the Whisper encoder's 8-second
# windows and of the minute its log-mel is normalised over, so blocks see the frames a single pass would
BLOCK, CONTEXT = 10 * 60.0, 2 * 60.0
WAVEFORM_PEAKS = get_extractor("waveform-peaks")
PROSODY = "prosody"  # the extractor captions measure the voice with


def thumbnails_root(feature_cache_root: Path) -> Path:
    """Face thumbnails live beside the feature cache: ``<data_dir>/cache/thumbnails``."""
    return Path(feature_cache_root).parent / "thumbnails"


def _settings_fps() -> float | None:
    from emostudio.core.config import get_settings

    return get_settings().video_fps


def media_for_path(path: str | Path) -> Media:
    """A ``Media`` for a file outside any database (training corpora, benchmarks)."""
    path = Path(path)
    digest = content_hash(path)
    return Media(media_id(digest), str(path), path.name, digest, path.stat().st_size, probe(path))


def audio_features(
    media: Media,
    extractors: list[FeatureExtractor],
    cache: FeatureCache,
    audio: np.ndarray | None = None,
    span: tuple[float, float] | None = None,
) -> list[Features]:
    """Every audio extractor's frames (of ``span`` when given), decoding the track at most
    once (and not at all when cached)."""
    out = []
    for extractor in extractors:
        inputs = FeatureInput(media, audio=audio, span=span)
        cached = cache.path(extractor, inputs)
        if audio is None and not (cached is not None and cached.is_file()):
            audio = audio_of(inputs)
            inputs = FeatureInput(media, audio=audio, span=span)
        out.append(cache.get(extractor, inputs))
    return out


def _shifted(chunk: Chunk, offset: float) -> Chunk:
    """``chunk`` on the time axis of a block starting at ``offset`` seconds."""
    if not offset:
        return chunk
    return Chunk(chunk.index, chunk.start - offset, chunk.duration, tuple((s - offset, d) for s, d in chunk.windows))


def _window(features: Features | None, start: float, end: float) -> Features | None:
    """The frames of ``features`` (from time 0) that cover ``[start, end)``: from the frame
    at ``start`` (so the block's frame grid stays aligned) to the last frame ``end`` reaches
    into (so a block shorter than one frame, e.g. 0.2 s of video at 2 frames per second,
    still gets its frame)."""
    if features is None:
        return None
    rate = features.frame_rate
    first, last = FrameRate(rate).index(start), math.ceil(end * rate - 1e-6)
    if first == 0 and last >= len(features):
        return features
    return Features(features.extractor, features.version, rate, features.values[first:last])


@dataclass
class Analysis:
    """What analysing one media gives: predictions, and a transcript when ASR made one."""

    media: Media
    clip: Prediction
    chunks: list[Prediction]
    segments: list[Prediction] = field(default_factory=list)
    """One per annotation unit (speech segment); filled in by ``analyze_stored``."""
    asr_transcript: list[Segment] = field(default_factory=list)
    modalities: tuple[str, ...] = ()
    kept_corrections: int = 0
    """Corrections pointing into this version's earlier runs of the media (kept, superseded)."""
    transcript: list[Segment] = field(default_factory=list)
    """The transcript analysed (given or recognised)."""
    read: list[Segment] = field(default_factory=list)
    """The transcript spans the text branch read (captions quote nothing else)."""
    prosody: np.ndarray | None = None
    """The media's prosody frames (100 per second), which captions measure the voice from."""
    caption_audio: np.ndarray | None = None
    """Each chunk's audio in the caption sentence space ``[T, 384]`` (None without audio)."""
    captions: list[Caption] = field(default_factory=list)
    caption_seconds: float = 0.0
    """How long captioning took (after the rest of the analysis)."""


class Analyzer:
    """A loaded model plus the extractors its inputs need.

    Example::

        analyzer = Analyzer.load()            # the shipped default model
        result = analyzer.analyze(media)      # Analysis(clip=..., chunks=[...])
    """

    def __init__(
        self,
        model: ChunkEmotionModel,
        model_version_id: str,
        cache: FeatureCache | None = None,
        modalities: tuple[str, ...] = MODALITIES,
        asr: bool = True,
        face_fps: float | None = None,
    ):
        c = model.config
        self.folder: Path | None = None
        self.device = torch_device()
        self.model = model.eval().to(self.device)
        self.model_version_id = model_version_id
        self.cache = cache or FeatureCache(None)
        self.unavailable: list[str] = []
        """One sentence per modality that cannot run here; the others still do."""
        self.audio_extractors = []
        if "audio" in modalities:
            try:
                self.audio_extractors = [get_extractor(n) for n in c.audio_extractors]
            except ExtractorUnavailable as err:
                self.unavailable.append(f"audio analysis is off: {err}")
        self.face = self._optional("face", modalities, "face-fer2013", fps=face_fps or _settings_fps())
        self.face_embedding = None  # what a model that aligned voice and face reads of the face
        if self.face is not None and c.align_dim and c.face_embedding_dim:
            self.face_embedding = self._optional(
                "face", modalities, "face-fer2013-embedding", fps=face_fps or _settings_fps()
            )
        self.text = self._optional("text", modalities, c.text_extractor)
        self.asr = asr and self.text is not None
        self._captioner: Captioner | None = None
        self._last_caption: str | None = None  # two media analysed in a row never get the same sentence
        parts = [f"{e.name}@{e.version}" for e in self.audio_extractors]
        parts += [f"{e.name}@{e.version}" for e in (self.face, self.face_embedding, self.text) if e is not None]
        self.extractor_id = "+".join(parts)

    def _optional(self, modality: str, wanted: tuple[str, ...], name: str, **options):
        if modality not in wanted:
            return None
        try:
            return get_extractor(name, **options)
        except ExtractorUnavailable as err:
            self.unavailable.append(f"{modality} analysis is off: {err}")
            return None

    @classmethod
    def load(cls, folder: str | Path | None = None, version_id: str | None = None, **kwargs) -> "Analyzer":
        """The model in ``folder`` (default: the shipped one), named ``version_id``: the id
        its registry row has (``emostudio.services.versions`` looks it up); without one, the
        id the folder would be registered under."""
        from emostudio.services.versions import folder_version_id

        folder = Path(folder) if folder else default_model_path()
        analyzer = cls(load_model(folder), version_id or folder_version_id(folder), **kwargs)
        analyzer.folder = folder
        return analyzer

    @property
    def captioner(self) -> Captioner:
        """The model version's captioner (the shipped one when its folder has none)."""
        if self._captioner is None:
            from emostudio.core.config import get_settings

            folder = self.folder or default_model_path()
            lm = get_settings().caption_lm
            self._captioner = load_captioner(folder, tuple(self.model.config.audio_extractors), lm)
        return self._captioner

    # -- analysis ---------------------------------------------------------------------

    def _face(self, media: Media) -> Features | None:
        if self.face is None or not media.info.has_video:
            return None
        face_feats = self.cache.get(self.face, FeatureInput(media))
        if self.cache.root is not None:
            save_face_thumbnails(thumbnails_root(self.cache.root), media, face_feats)
        return face_feats

    def _transcript(self, media: Media, transcript, speech, audio) -> tuple[list[Segment], list[Segment]]:
        """The transcript to embed, and the ASR spans made for it (when there was none)."""
        transcript = list(transcript or [])
        if transcript or not self.asr or not media.info.has_audio:
            return transcript, []
        if speech is None:  # imported without voice activity detection: find the speech now
            speech = speech_segments(media)
        asr_spans = transcribe(media, audio, [(s.start, s.duration) for s in speech])
        return asr_spans, asr_spans

    def blocks(self, media: Media) -> list[tuple[float, float, float, float]]:
        """``(start, end, core_start, core_end)`` of the pieces a media is analysed in: the
        whole media when short, else ``BLOCK`` seconds with ``CONTEXT`` either side."""
        d = media.duration
        if d <= LONG_MEDIA:
            return [(0.0, d, 0.0, d)]
        cores = [(a, min(a + BLOCK, d)) for a in np.arange(0.0, d, BLOCK).tolist()]
        return [(max(0.0, a - CONTEXT), min(d, b + CONTEXT), a, b) for a, b in cores]

    @torch.inference_mode()
    def analyze(
        self,
        media: Media,
        transcript: list[Segment] | None = None,
        speech: list[Segment] | None = None,
        progress: Callable[[float, float], None] | None = None,
    ) -> Analysis:
        """Predictions for every chunk and the clip. ``speech`` (voice activity spans) tells
        ASR where to listen; without it, voice activity detection runs first. ``progress``
        hears ``(seconds analysed, duration)`` after each block.

        Long media are analysed a block at a time (audio decoded, features extracted and
        the model run per block, each with context either side), so memory does not grow
        with the length; the clip-level result pools every chunk at once.
        """
        c = self.model.config
        chunks = c.grid.chunks(media.duration)
        if not chunks:
            raise MediaError(media.path, "has no duration to analyse")
        blocks = self.blocks(media)
        whole_audio = None
        if media.info.has_audio and len(blocks) == 1 and (self.audio_extractors or self.asr):
            whole_audio = load_audio(media.path)
        face_feats = self._face(media)
        face_embedding = None
        if face_feats is not None and self.face_embedding is not None:
            face_embedding = self.cache.get(self.face_embedding, FeatureInput(media))
        transcript, asr_spans = self._transcript(media, transcript, speech, whole_audio)
        text_feats = None
        understood = [s for s in transcript if self.text is not None and self.text.understands(s)]
        if understood:
            text_feats = self.cache.get(self.text, FeatureInput(media, transcript=tuple(understood)))
        centres = np.array([ch.center for ch in chunks])
        parts, peaks, prosody, caption_audio = [], [], [], []
        for lo, hi, core_lo, core_hi in blocks:
            span = None if len(blocks) == 1 else (lo, hi)
            audio = whole_audio
            if audio is None and media.info.has_audio and self.audio_extractors:
                audio = load_audio(media.path, start=lo, duration=hi - lo)
            audio_feats = None
            if audio is not None and self.audio_extractors:
                audio_feats = audio_features(media, self.audio_extractors, self.cache, audio, span)
                if self.cache.root is not None:  # what the Inspect page draws, computed now
                    peaks.append(self._peaks(media, audio, span, core_lo - lo, core_hi - lo))
            inside = np.flatnonzero((centres >= lo) & (centres < hi))
            block_chunks = [_shifted(chunks[k], lo) for k in inside]
            inputs = build_chunk_inputs(
                block_chunks,
                audio_feats,
                _window(face_feats, lo, hi),
                _window(text_feats, lo, hi),
                audio_end=None if audio is None else len(audio) / SAMPLE_RATE,
                face_embedding=_window(face_embedding, lo, hi),
            )
            out = self.model.chunk_outputs(to_model_inputs(inputs, self.device)).to("cpu")
            core = torch.from_numpy(np.flatnonzero((centres[inside] >= core_lo) & (centres[inside] < core_hi)))
            parts.append(out.select(core))
            if audio is not None:
                prosody.append(self._prosody(media, audio, audio_feats, span, core_lo - lo, core_hi - lo))
                if inputs.audio is not None and self.captioner.projection is not None:
                    caption_audio.append(self.captioner.projection.project(inputs.audio[core.numpy()]))
            del audio, audio_feats, inputs, out
            if progress is not None:
                progress(core_hi, media.duration)
        if len(peaks) > 1:
            self.cache.put(WAVEFORM_PEAKS, FeatureInput(media), np.concatenate(peaks))
        out = self.model.pool(ChunkOutputs.concat(parts).to(self.device)).to("cpu")
        result = self._predictions(media, out, chunks, asr_spans)
        result.transcript, result.read = transcript, understood
        result.prosody = np.concatenate(prosody) if prosody else None
        result.caption_audio = np.concatenate(caption_audio) if len(caption_audio) == len(blocks) else None
        return result

    def _prosody(self, media, audio, audio_feats, span, core_from: float, core_to: float) -> np.ndarray:
        """A block core's prosody frames: the model's own when it reads prosody, else measured now."""
        found = [f for f in audio_feats or [] if f.extractor == PROSODY]
        frames = found[0] if found else get_extractor(PROSODY).features(FeatureInput(media, audio=audio, span=span))
        rate = FrameRate(frames.frame_rate)
        return frames.values[rate.index(core_from) : rate.index(core_to)] if span else frames.values

    def caption(self, result: Analysis, segments: list[Prediction]) -> list[Caption]:
        """Captions of the clip and of each segment prediction, written by this model version."""
        step = self.model.config.grid.step
        starts = np.array([c.start for c in result.chunks])
        spans = caption_spans(
            self.captioner,
            result.media.id,
            result.clip,
            segments,
            result.prosody,
            result.transcript,
            result.read,
            result.caption_audio,
            starts,
            step,
            avoid=self._last_caption,
        )
        self._last_caption = spans[0].text
        return [
            Caption(
                None, result.media.id, c.text, "model", None, c.start, c.duration, self.model_version_id, score=c.score
            )
            for c in spans
        ]

    def _peaks(self, media: Media, audio: np.ndarray, span, core_from: float, core_to: float) -> np.ndarray:
        """Waveform peaks of a block's core (for a whole media: cached as they are)."""
        if span is None:
            return self.cache.get(WAVEFORM_PEAKS, FeatureInput(media, audio=audio)).values
        values = WAVEFORM_PEAKS.features(FeatureInput(media, audio=audio, span=span)).values
        frames = FrameRate(WAVEFORM_PEAKS.frame_rate)
        return values[frames.index(core_from) : frames.index(core_to)]

    def _predictions(self, media, out, chunks, asr_spans) -> Analysis:
        labels = self.model.config.labels
        classes, compound_names = labels.basic, labels.compound
        present = [m for m in MODALITIES if out.modality_chunk_logits.get(m) is not None]
        probs = out.chunk_log_probs[0].exp()
        learned = (
            out.chunk_compound[0] if out.chunk_compound is not None and self.model.config.compound_trained else None
        )
        chunk_compound = compound_scores(probs, learned, labels)
        clip_probs = out.clip_log_probs[0].exp()
        clip_compound = (out.chunk_weights[0][:, None] * chunk_compound).sum(0)
        modality_probs = {m: out.modality_chunk_logits[m][0].softmax(-1) for m in present}
        avd = out.chunk_avd[0].numpy()
        share = out.modality_weights[0].numpy()
        p, cp = probs.numpy(), chunk_compound.numpy()
        mp = {m: v.numpy() for m, v in modality_probs.items()}
        rows = []
        for i, chunk in enumerate(chunks):
            modalities = {
                m: {**dict(zip(classes, map(float, mp[m][i]))), "weight": float(share[i, MODALITIES.index(m)])}
                for m in present
                if share[i, MODALITIES.index(m)] > 0  # the modality had input in this chunk
            }
            rows.append(
                Prediction(
                    None,
                    media.id,
                    self.model_version_id,
                    self.extractor_id,
                    "chunk",
                    chunk.start,
                    chunk.duration,
                    basic=dict(zip(classes, map(float, p[i]))),
                    compound=dict(zip(compound_names, map(float, cp[i]))),
                    arousal=float(avd[i, 0]),
                    valence=float(avd[i, 1]),
                    dominance=float(avd[i, 2]),
                    modalities=modalities,
                )
            )
        clip_share = out.clip_modality_weights[0].numpy()
        clip_modalities = {
            m: {
                **dict(zip(classes, map(float, out.modality_clip_logits[m][0].softmax(-1)))),
                "weight": float(clip_share[MODALITIES.index(m)]),
            }
            for m in present
            if share[:, MODALITIES.index(m)].any()
        }
        clip_avd = out.clip_avd[0].numpy()
        clip = Prediction(
            None,
            media.id,
            self.model_version_id,
            self.extractor_id,
            "clip",
            0.0,
            media.duration,
            basic=dict(zip(classes, map(float, clip_probs))),
            compound=dict(zip(compound_names, map(float, clip_compound))),
            arousal=float(clip_avd[0]),
            valence=float(clip_avd[1]),
            dominance=float(clip_avd[2]),
            modalities=clip_modalities,
        )
        return Analysis(media, clip, rows, asr_transcript=asr_spans, modalities=tuple(clip_modalities))


def analyze_stored(
    repo: Repository, analyzer: Analyzer, media: Media, progress: Callable[[float, float], None] | None = None
) -> Analysis:
    """Analyse an imported media and store the result as the current run of the
    analyzer's model version (a registered one: analysis never registers versions). The
    version's earlier run is kept beside it, marked superseded; ``Analysis.kept_corrections``
    says how many corrections point into runs kept that way. An ASR transcript is kept as
    transcript segments."""
    if repo.get_model_version(analyzer.model_version_id) is None:
        raise StudioError(f"model version {analyzer.model_version_id} is not registered; register it before analysing")
    transcript = current_transcript(repo.segments(media.id, "transcript"))
    speech = repo.segments(media.id, "speech") if repo.has_segments(media.id, "speech") else None
    result = analyzer.analyze(media, transcript, speech, progress)
    if result.asr_transcript:
        repo.add_segments(result.asr_transcript)
    units = annotation_units(media.duration, repo.segments(media.id, "speech"))
    result.segments = segment_predictions(result.chunks, units)
    began = time.perf_counter()
    result.captions = analyzer.caption(result, result.segments)
    result.caption_seconds = time.perf_counter() - began
    repo.replace_predictions(
        media.id,
        analyzer.model_version_id,
        [result.clip, *result.segments],
        result.captions,
        chunks=ChunkSeries.from_predictions(result.chunks),
        waveform=_waveform(analyzer.cache.load(WAVEFORM_PEAKS, FeatureInput(media), mapped=True)),
    )
    result.kept_corrections = repo.corrections_of_earlier_runs(media.id, analyzer.model_version_id)
    repo.set_media_status(media.id, "analysed")
    return result


def _waveform(peaks: Features | None) -> tuple[np.ndarray, float] | None:
    return None if peaks is None else (peaks.values, peaks.frame_rate)


def to_model_inputs(inputs: ChunkInputs, device="cpu") -> ModelInputs:
    """One media's chunk inputs as a batch of one, on ``device``."""

    def t(x, dtype=torch.float32):
        return None if x is None else torch.from_numpy(np.asarray(x)).to(dtype)[None].to(device)

    return ModelInputs.of(
        audio=t(inputs.audio),
        audio_mask=t(inputs.audio_mask, torch.bool),
        face=t(inputs.face),
        face_mask=t(inputs.face_mask, torch.bool),
        text=t(inputs.text),
        text_mask=t(inputs.text_mask, torch.bool),
        face_embedding=t(inputs.face_embedding),
    )
