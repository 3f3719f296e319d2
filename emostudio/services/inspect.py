"""What the Inspect and Annotate pages show for one clip, read from what analysis
stored (predictions, waveform peaks, face thumbnails): opening a clip recomputes
nothing. The figure drawn from it is the UI's (``emostudio.ui.figure``)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from emostudio.core.domain import Annotation, Caption, Media, Prediction, Segment, Trace
from emostudio.core.labels import COMPOUND_PAIRS, LABELS, LabelSpace, avd_prototype
from emostudio.core.series import ChunkSeries
from emostudio.db.repository import Repository
from emostudio.features.base import FeatureInput, Features
from emostudio.media.proxy import existing_proxy, needs_proxy
from emostudio.media.transcripts import current_transcript
from emostudio.model.network import MODALITIES


@dataclass(frozen=True)
class ClipView:
    media: Media
    clip: Prediction | None
    chunks: list[Prediction]
    speech: list[Segment]
    transcript: list[Segment]
    corrections: list[Annotation]
    segments: list[Prediction] = field(default_factory=list)
    """One prediction per annotation unit (speech segment), in time order."""
    peaks: Features | None = None
    thumbnails: list[tuple[str, float]] = field(default_factory=list)
    captions: list[Caption] = field(default_factory=list)
    kept_corrections: int = 0
    """Corrections made on an earlier analysis run of this version (kept beside the current one)."""
    labels: LabelSpace = LABELS
    """The label space of the model version shown."""
    annotations: list[Annotation] = field(default_factory=list)
    """Every current annotation of the media: spans and whole-media labels, of people,
    imports and pseudo-labels (retracted ones left out)."""
    traces: list[Trace] = field(default_factory=list)
    """Continuous ratings of the media, every pass."""
    window: tuple[float, float] | None = None
    """The span ``chunks`` and ``peaks`` cover (None: the whole media, a short one)."""
    overview: ChunkSeries | None = None
    """A long media's curves averaged to at most ``OVERVIEW_POINTS`` (None for a short one)."""
    waveform: tuple[np.ndarray, float] | None = None
    """A long media's waveform overview: (lowest, highest) per frame, and the frame rate."""
    peaks_start: float = 0.0
    """Where ``peaks`` begin (a window's start)."""
    stamp: tuple = ()
    """``Repository.media_stamp`` when the view was read (``view_is_current``)."""

    @property
    def shown(self) -> tuple[float, float]:
        """The span the full-resolution figure covers."""
        return self.window or (0.0, self.media.duration)

    @property
    def units(self) -> list[Prediction]:
        """What the annotator steps through: the segments, else the clip as one unit."""
        return self.segments or ([self.clip] if self.clip else [])


def playback_pending(media: Media, cache_dir: Path) -> bool:
    """Whether the browser waits for a playable copy (``emostudio.media.proxy``) of a file
    it cannot play as it is (FLV, AVI, ...): the worker is still making it, or could not."""
    return needs_proxy(media) and existing_proxy(cache_dir, media) is None


def active_version_id(repo: Repository) -> str | None:
    active = repo.active_model_version()
    return active.id if active else None


def active_labels(repo: Repository) -> LabelSpace:
    """The label space of the active model version (the studio's own when there is none)."""
    active = repo.active_model_version()
    return LabelSpace.from_json(active.label_space) if active is not None else LABELS


FULL_VIEW = 10 * 60.0
"""Media up to this long open whole at full resolution; a longer one opens as an overview
of the whole media and a window of it read at full resolution (``WINDOWS``)."""
WINDOWS = (30.0, 120.0, 600.0)
DEFAULT_WINDOW = 120.0


def window_around(duration: float, t: float, width: float) -> tuple[float, float]:
    """``width`` seconds centred on ``t``, moved inside the media."""
    start = min(max(0.0, t - width / 2), max(0.0, duration - width))
    return round(start, 3), round(min(duration, start + width), 3)


def load_clip_view(
    repo: Repository,
    media_id: str,
    model_version: str | None = None,
    cache=None,
    thumbnails_root=None,
    around: float = 0.0,
    width: float = DEFAULT_WINDOW,
) -> ClipView:
    """A media's stored predictions (active model version by default), segments, span
    annotations, captions, and the waveform peaks and thumbnails analysis saved. A long
    media (over ``FULL_VIEW``) reads its overview and the ``width`` seconds around
    ``around`` at full resolution, never its whole chunk arrays."""
    from emostudio.features.thumbnails import saved_thumbnails

    media = repo.get_media(media_id)
    if media is None:
        raise KeyError(f"no media {media_id!r}")
    model_version = model_version or active_version_id(repo)
    version = repo.get_model_version(model_version) if model_version else None
    preds = repo.predictions(media_id, model_version_id=model_version) if model_version else []
    by_level: dict[str, list[Prediction]] = {"clip": [], "segment": []}
    for p in preds:
        by_level[p.level].append(p)
    long = media.duration > FULL_VIEW
    annotations = repo.annotations(media_id)
    view = ClipView(
        media=media,
        clip=by_level["clip"][0] if by_level["clip"] else None,
        chunks=[],
        speech=repo.segments(media_id, "speech"),
        transcript=current_transcript(repo.segments(media_id, "transcript")),
        corrections=[a for a in annotations if a.start is not None],
        segments=by_level["segment"],
        thumbnails=saved_thumbnails(thumbnails_root, media),
        captions=repo.captions(media_id),
        kept_corrections=repo.corrections_of_earlier_runs(media_id, model_version) if model_version else 0,
        labels=LabelSpace.from_json(version.label_space) if version is not None else LABELS,
        annotations=annotations,
        traces=repo.traces(media_id),
        overview=repo.chunk_series(media_id, model_version, overview=True) if long and model_version else None,
        waveform=repo.waveform_overview(media_id, model_version) if long and model_version else None,
        stamp=repo.media_stamp(media_id),
    )
    return (
        move_window(repo, view, around, width, cache, model_version)
        if long
        else _read_window(repo, view, None, cache, model_version)
    )


def view_is_current(repo: Repository, view: ClipView) -> bool:
    """Whether ``view`` still shows what is stored: predictions of the active model version
    that no analysis has replaced since, and the same segments, annotations, traces and
    captions (a few indexed counts)."""
    if view.clip is None or view.clip.model_version_id != active_version_id(repo):
        return False
    current = repo.predictions(view.media.id, model_version_id=view.clip.model_version_id, level="clip")
    return bool(current) and current[0].id == view.clip.id and repo.media_stamp(view.media.id) == view.stamp


def move_window(
    repo: Repository, view: ClipView, around: float, width: float = DEFAULT_WINDOW, cache=None, model_version=None
) -> ClipView:
    """The view with the ``width`` seconds around ``around`` read at full resolution
    (a short media stays whole)."""
    if view.media.duration <= FULL_VIEW:
        return view
    return _read_window(repo, view, window_around(view.media.duration, around, width), cache, model_version)


def _read_window(repo: Repository, view: ClipView, window, cache, model_version) -> ClipView:
    from emostudio.features import get_extractor

    model_version = model_version or (view.clip.model_version_id if view.clip else active_version_id(repo))
    start, end = window or (None, None)
    series = repo.chunk_series(view.media.id, model_version, start, end) if model_version else None
    peaks = cache.load(get_extractor("waveform-peaks"), FeatureInput(view.media), mapped=True) if cache else None
    first = 0
    if peaks is not None:
        first = 0 if window is None else int(window[0] * peaks.frame_rate)
        last = len(peaks) if window is None else math.ceil(window[1] * peaks.frame_rate)
        peaks = replace(peaks, values=np.array(peaks.values[first:last]))
    return replace(
        view,
        chunks=series.predictions() if series is not None else [],
        peaks=peaks,
        peaks_start=first / peaks.frame_rate if peaks is not None else 0.0,
        window=window,
    )


def unit_index_at(view: ClipView, t: float) -> int | None:
    """The unit under time ``t``, else the nearest one (a click between segments picks the closer)."""
    units = view.units
    if not units:
        return None
    i = bisect.bisect_right([u.start for u in units], t) - 1
    if i >= 0 and t < units[i].end:
        return i
    candidates = [j for j in (i, i + 1) if 0 <= j < len(units)]
    return min(candidates, key=lambda j: min(abs(t - units[j].start), abs(t - units[j].end)))


def chunk_at(view: ClipView, t: float) -> Prediction | None:
    """The chunk whose span holds time ``t``."""
    i = bisect.bisect_right([c.start for c in view.chunks], t) - 1
    return view.chunks[i] if 0 <= i < len(view.chunks) and t < view.chunks[i].end + 1e-9 else None


def avd_spreads(probs: np.ndarray, labels: LabelSpace = LABELS) -> np.ndarray:
    """How far the A/V/D prototypes of the emotions the model weighs spread around their
    mean: per row of ``probs`` ([n, classes] in ``labels.basic`` order), the standard
    deviation of each dimension under that class distribution. It is 0 when the model
    is sure of one emotion and grows as it hesitates between emotions far apart on the
    dimension."""
    proto = np.array([avd_prototype(b) for b in labels.basic])
    mean = probs @ proto
    second = probs @ proto**2
    return np.sqrt(np.maximum(second - mean**2, 0.0))


def avd_spread(basic: dict[str, float], labels: LabelSpace = LABELS) -> tuple[float, float, float]:
    """``avd_spreads`` of one prediction's basic-emotion probabilities."""
    return tuple(avd_spreads(np.array([[basic.get(b, 0.0) for b in labels.basic]]), labels)[0].tolist())


UNIT_COLUMNS = ("kind", "emotion", "score", *MODALITIES)


def ranked_emotions(prediction: Prediction | None) -> list[tuple]:
    """(kind, emotion, score, audio, face, text) rows: basic then compound, each best first.

    The last three are what each modality alone gives the emotion (for a compound, the
    geometric mean of its pair), blank where the modality had no input.
    """
    if prediction is None:
        return []
    per_modality = {m: prediction.modalities.get(m) for m in MODALITIES}

    def contributions(pair: tuple[str, ...]) -> list:
        out = []
        for m in MODALITIES:
            probs = per_modality[m]
            out.append("" if not probs else round(math.prod(probs.get(k, 0.0) for k in pair) ** (1 / len(pair)), 3))
        return out

    basic = sorted(prediction.basic.items(), key=lambda kv: -kv[1])
    compound = sorted(prediction.compound.items(), key=lambda kv: -kv[1])
    rows = [("basic", k, round(v, 3), *contributions((k,))) for k, v in basic]
    rows += [("compound", k, round(v, 3), *contributions(COMPOUND_PAIRS.get(k, (k,)))) for k, v in compound]
    return rows


def fusion_shares(prediction: Prediction | None) -> str:
    """One line on how much each modality weighed in the fused prediction."""
    if prediction is None or not prediction.modalities:
        return ""
    weights = {m: v.get("weight") for m, v in prediction.modalities.items()}
    if any(w is None for w in weights.values()):  # clip rows hold per-modality probabilities only
        return "modalities: " + ", ".join(weights)
    total = sum(weights.values()) or 1.0
    return "fusion shares: " + ", ".join(f"{m} {w / total:.0%}" for m, w in weights.items())


def modality_contributions(prediction: Prediction | None) -> dict[str, dict[str, float]]:
    """What each modality brought to each basic emotion's fused score: its fusion weight
    times its own probability, scaled so that the parts add up to the fused score. For
    one chunk of a linear fusion this is exact; for a segment (a mean over chunks) or a
    model that fused log-linearly, it is each modality's share of the fused score.
    Empty when the prediction does not say how its modalities were weighed."""
    if prediction is None or not prediction.modalities:
        return {}
    if any(v.get("weight") is None for v in prediction.modalities.values()):
        return {}
    parts = {m: {k: v["weight"] * v.get(k, 0.0) for k in prediction.basic} for m, v in prediction.modalities.items()}
    out = {m: {} for m in parts}
    for k, fused in prediction.basic.items():
        total = sum(p[k] for p in parts.values())
        for m, p in parts.items():
            out[m][k] = fused * p[k] / total if total > 0 else 0.0
    return out


Span = tuple[float, float]
"""``(start, duration)`` of a segment; None stands for the whole clip."""


def same_span(caption: Caption, span: Span | None) -> bool:
    if span is None or caption.start is None:
        return span is None and caption.start is None
    return abs(caption.start - span[0]) < 1e-3 and abs((caption.duration or 0.0) - span[1]) < 1e-3


def current_caption(captions: list[Caption], span: Span | None = None, version: str | None = None) -> Caption | None:
    """The caption of ``span`` (None: the whole clip): the newest a person wrote, else the
    newest ``version`` generated (any version's when it wrote none)."""
    mine = [c for c in captions if same_span(c, span)]
    human = [c for c in mine if c.source == "human"]
    model = [c for c in mine if c.source == "model"]
    return (human or [c for c in model if c.model_version_id == version] or model or [None])[-1]


def caption_lines(view: ClipView) -> list[tuple[str, Caption]]:
    """``(span, caption)`` for the clip and each segment that has one, in time order (of a
    long media, the segments in the window shown)."""
    version = view.clip.model_version_id if view.clip else None
    out = []
    clip = current_caption(view.captions, None, version)
    if clip:
        out.append(("whole clip", clip))
    start, end = view.shown
    for unit in (u for u in view.units if u.end > start and u.start < end):
        caption = current_caption(view.captions, (unit.start, unit.duration), version)
        if caption and not (clip and caption.text == clip.text):
            out.append((f"{unit.start:.1f}–{unit.end:.1f} s", caption))
    return out


PICKER_SIZE = 500
"""The media pickers list this many (by name); a media opened from elsewhere is added."""


def media_choices(repo: Repository, include: str | None = None) -> list[tuple[str, str]]:
    """(label, media id) for a picker: the first ``PICKER_SIZE`` media by name, and
    ``include`` (a media id) wherever it falls, so a library of any size keeps the page light."""
    entries, _ = repo.media_page(None, sort="name", limit=PICKER_SIZE)
    media = [e.media for e in entries]
    if include and all(m.id != include for m in media):
        extra = repo.get_media(include)
        media = [extra, *media] if extra is not None else media
    return [(f"{m.name} ({m.duration:.1f} s, {m.status})", m.id) for m in media]
