"""Training jobs as the studio asks for them: what a fine-tuning job may be told, queueing
and cancelling it, and how a trained version compares with its parent.

The trainers run the jobs (``emostudio.trainers``); the Train page and the command line
only write job rows through here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from emostudio.core.domain import ALIGN_JOB, CAPTION_JOB, FINETUNE_JOB, RANKERS_JOB, SELFTRAIN_JOB, Job, ModelVersion
from emostudio.core.errors import StudioError
from emostudio.db.repository import Repository

HUMAN_SOURCES = ("human", "import")
"""What fine-tuning learns from by default. Pseudo-labels (``source='pseudo'``) are the
model's own guesses: only self-training reads them, and never as people's labels."""


def check_sources(sources) -> None:
    """Refuse label sources other than people's and imported labels."""
    if "pseudo" in sources:
        raise StudioError("pseudo-labels are the model's own guesses: only self-training learns from them")
    if not set(sources) <= set(HUMAN_SOURCES):
        raise StudioError(f"label sources are {' and '.join(HUMAN_SOURCES)}; got {', '.join(sources)}")


def known_options(cls, config: dict, what: str) -> None:
    """Refuse a job config naming an option ``cls`` does not have (a typo fails when queued)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise StudioError(f"unknown {what} option: {', '.join(unknown)} (known: {', '.join(sorted(known))})")


@dataclass(frozen=True)
class FinetuneOptions:
    """What a fine-tuning job is asked to do (its job row's ``config``)."""

    sources: tuple[str, ...] = HUMAN_SOURCES
    annotator: str | None = None
    """Learn from this one person's labels only (default: everyone's, merged)."""
    epochs: int = 10
    lr: float = 5e-4
    holdout: float = 0.2
    """Share of the speakers (or media, where speakers are unknown) held out to measure the new version."""
    seed: int = 0
    parent: str | None = None
    """The version to start from (default: the active one)."""

    @classmethod
    def from_config(cls, config: dict) -> FinetuneOptions:
        known_options(cls, config, "fine-tuning")
        options = cls(**{**config, "sources": tuple(config.get("sources") or HUMAN_SOURCES)})
        check_sources(options.sources)
        if options.epochs < 1 or not 0 < options.lr < 1 or not 0 < options.holdout < 1:
            raise StudioError("fine-tuning needs epochs >= 1, 0 < lr < 1 and 0 < holdout < 1")
        return options

    def to_config(self) -> dict:
        return {**asdict(self), "sources": list(self.sources)}


@dataclass(frozen=True)
class SelfTrainOptions(FinetuneOptions):
    """A self-training job: fine-tuning's options, plus how the library's unlabelled media
    join in. Round r pseudo-labels the most confident ``min(max_share, share * r)`` of the
    media the model gives each class (class-balanced thresholds, re-set every round)."""

    epochs: int = 5
    """Epochs per round."""
    rounds: int = 3
    share: float = 0.3
    max_share: float = 1.0
    restart: bool = False
    """Train each round from the starting model (re-standardised), with the latest round's
    pseudo-labels, instead of going on from the latest round's model: errors do not pile up."""
    confidence_weight: bool = False
    """Weigh each pseudo-label by the model's confidence in it (a person's label weighs 1)."""
    consistency: float = 1.0
    """Weight of the consistency loss between clean and perturbed views of each clip."""
    adapt_inputs: bool = True
    """Re-fit the input standardisation on the library's own media first (unlabelled ones included)."""
    match_labelled: bool = True
    """With ``adapt_inputs``: also shift and scale the labelled media's inputs to the
    unlabelled media's feature statistics, so that the labels (recorded elsewhere, e.g. an
    imported corpus) are read through the standardisation as the unlabelled media are;
    without it they train through statistics that are not theirs."""

    @classmethod
    def from_config(cls, config: dict) -> SelfTrainOptions:
        options = super().from_config(config)
        if options.rounds < 1 or not 0 < options.share <= options.max_share <= 1 or options.consistency < 0:
            raise StudioError("self-training needs rounds >= 1, 0 < share <= max_share <= 1 and consistency >= 0")
        return options


@dataclass(frozen=True)
class AlignOptions(FinetuneOptions):
    """An audio-visual alignment job: fine-tuning's options (the labels train the shared
    classifier and the fusion's face side), plus the alignment's own. Media with a voice
    and a face align whether labelled or not; the audio branch does not move."""

    epochs: int = 30
    """With ``lr``, chosen on a development speaker's faces by ``bench.av_alignment`` (the
    most training of the four settings it tries; see the README's figures)."""
    lr: float = 3e-3
    dim: int = 32
    """Size of the space the audio and face chunks are aligned in."""
    contrastive: float = 1.0
    """Weight of the contrastive loss (the same moment of one media, or two media with the
    same label, close; other media apart)."""
    same_label: float = 0.5
    """Weight of the auxiliary task: does this voice and this face carry the same emotion?"""
    temperature: float = 0.1

    @classmethod
    def from_config(cls, config: dict) -> AlignOptions:
        options = super().from_config(config)
        if options.dim < 2 or options.contrastive < 0 or options.same_label < 0 or options.temperature <= 0:
            raise StudioError("alignment needs dim >= 2, contrastive >= 0, same_label >= 0 and temperature > 0")
        return options


@dataclass(frozen=True)
class CaptionOptions:
    """A caption-alignment job: the projection of a span's audio into the sentence space
    learns, contrastively, from people's edited captions (each span's audio close to its
    own edited caption, away from the others'), so the captioner's ranking moves toward
    what annotators write. The chunk model does not change."""

    annotator: str | None = None
    """Learn from this one person's captions only (default: everyone's)."""
    epochs: int = 200
    """Full passes over the (audio, caption) pairs (each is one step: the pairs are few)."""
    lr: float = 1e-3
    temperature: float = 0.07
    holdout: float = 0.2
    seed: int = 0
    parent: str | None = None

    @classmethod
    def from_config(cls, config: dict) -> CaptionOptions:
        known_options(cls, config, "caption")
        options = cls(**config)
        if options.epochs < 1 or not 0 < options.lr < 1 or options.temperature <= 0:
            raise StudioError("caption alignment needs epochs >= 1, 0 < lr < 1 and temperature > 0")
        if not 0 < options.holdout < 1:
            raise StudioError("caption alignment needs 0 < holdout < 1")
        return options

    def to_config(self) -> dict:
        return asdict(self)


CBST = {"share": 0.2, "max_share": 0.5, "restart": True, "confidence_weight": True}
"""The class-balanced self-training schedule of Zou et al. (2018): 20% of each class's
media pseudo-labelled, growing to 50%, every round trained from the starting model."""

JOB_OPTIONS: dict[str, type[FinetuneOptions] | type[CaptionOptions]] = {
    FINETUNE_JOB: FinetuneOptions,
    SELFTRAIN_JOB: SelfTrainOptions,
    RANKERS_JOB: FinetuneOptions,
    ALIGN_JOB: AlignOptions,
    CAPTION_JOB: CaptionOptions,
}
"""Each training job kind and the options it takes."""


def queue_training(repo: Repository, kind: str, config: dict, requested_by: str | None = None) -> Job:
    """Queue a training job (``config`` checked here, so a typo fails now, not in the worker)."""
    if kind not in JOB_OPTIONS:
        raise StudioError(f"unknown training job {kind!r} (known: {', '.join(JOB_OPTIONS)})")
    return repo.enqueue_job(kind, JOB_OPTIONS[kind].from_config(config).to_config(), requested_by=requested_by)


def cancel_job(repo: Repository, job_id: int, by: str | None = None) -> Job:
    """Cancel a queued or running job; a running one stops at its next step and registers nothing."""
    job = repo.cancel_job(int(job_id), by=by)
    if job is None:
        raise StudioError(f"there is no job {job_id}")
    if job.status != "cancelled":
        raise StudioError(f"job {job.id} had already {job.status}")
    return job


def annotators(repo: Repository) -> list[str]:
    """The people whose labels fine-tuning could learn from alone."""
    return sorted({a.annotator for a in repo.annotations() if a.source in HUMAN_SOURCES})


COMPARED = {
    "uar": "UAR",
    "wa": "WA (accuracy)",
    "macro_f1": "macro-F1",
    "ece": "ECE (lower is better)",
    "ccc_arousal": "CCC arousal",
    "ccc_valence": "CCC valence",
    "ccc_dominance": "CCC dominance",
}


def comparison(version: ModelVersion) -> tuple[list[tuple[str, str, str]], dict | None]:
    """A trained version beside its parent on the same held-out spans: rows of (measure,
    parent, new version), and the held-out record (confusion matrices, calibration) for
    the figures; no rows for a version no studio job measured."""
    held = version.metrics.get("heldout")
    if not held:
        return [], None

    def shown(side: str, key: str) -> str:
        value = held.get(side, {}).get(key)
        return "missing" if value is None else f"{value:.3f}"

    rows = [(name, shown("parent", key), shown("model", key)) for key, name in COMPARED.items()]
    rows.append(("held-out spans", str(held.get("spans", "")), str(held.get("spans", ""))))
    return rows, held
