"""Worker jobs: analysing imported media with the active model (here), and the training
kinds (imported at the end, each from its own module).

Importing this module registers the job kinds with the worker.
"""

from __future__ import annotations

import logging

import av

from emostudio.core.config import get_settings
from emostudio.core.domain import ANALYZE_JOB, PROXY_JOB
from emostudio.core.errors import StudioError
from emostudio.db.repository import Repository
from emostudio.features import FeatureCache
from emostudio.media.decode import MediaError
from emostudio.media.proxy import make_proxy, needs_proxy
from emostudio.model.network import MODALITIES
from emostudio.services.analysis import analyze_stored
from emostudio.services.versions import active_version, load_analyzer
from emostudio.trainers.worker import SWEEPERS, register, visitor_reason

log = logging.getLogger("emostudio.worker")
_analyzers: dict[tuple, object] = {}


def _analyzer(repo: Repository):
    """The active version's analyzer, loaded once per worker process and version."""
    settings = get_settings()
    key = (active_version(repo).id, str(settings.cache_dir), id(repo))  # one worker: one studio, one model
    if key not in _analyzers:
        cache = FeatureCache(settings.cache_dir / "features", repo)
        _analyzers.clear()  # one model in memory at a time
        _analyzers[key] = load_analyzer(repo, cache=cache, modalities=MODALITIES, asr=True, face_fps=settings.video_fps)
    return _analyzers[key]


def failure_reason(err: Exception, media) -> str:
    """What the job log (read by every visitor of the Train page) says about a failed
    file: the problem, with the file's name instead of any server path; for anything but
    a media or studio error, only its type and an incident number (details in the log)."""
    if isinstance(err, MediaError):
        return err.problem
    data_dir = str(get_settings().data_dir.resolve())
    reason = visitor_reason(err, {media.path: media.name, data_dir: "<data folder>"})
    if not isinstance(err, StudioError):
        log.error("analysing %s failed: %s", media.id, reason, exc_info=err)
    return reason


def abandon_analysis(repo: Repository, job, gave_up: bool) -> None:
    """A worker died during this analysis job. The media it was on goes back to
    'imported' (retried when the job is); when the job is given up, that media is marked
    failed and the rest of the job's media are queued again without it."""
    current = job.current_item
    if current:
        repo.set_media_status(current, "failed" if gave_up else "imported", only_if="analysing")
    if gave_up:
        ids = job.config.get("media_ids") or [s.media.id for s in repo.list_media()]
        rest = [i for i in ids if i != current]
        if rest:
            repo.enqueue_job(ANALYZE_JOB, {**job.config, "media_ids": rest}, requested_by=job.requested_by)


SWEEPERS.append(lambda repo: repo.release_stuck_media())


def _within(hook, k: int, total: int):
    """Progress inside the ``k``-th media: the job's count moves by the share analysed."""
    return lambda done, duration: hook(ANALYZE_JOB, completed=k + min(done / duration, 0.99), total=total)


@register(ANALYZE_JOB, on_abandon=abandon_analysis)
def analyze_job(repo: Repository, job, hook) -> None:
    """Analyse ``config.media_ids`` (default: every media); media the model already
    analysed are skipped unless ``config.force``. One file's failure is logged, marks
    that media ``failed``, and the job goes on with the rest."""
    analyzer = _analyzer(repo)
    ids = job.config.get("media_ids") or [s.media.id for s in repo.list_media()]
    done = set() if job.config.get("force") else set(repo.clip_probabilities(analyzer.model_version_id))
    todo = [i for i in ids if i not in done]
    hook(
        ANALYZE_JOB,
        completed=0,
        total=len(todo),
        message=f"model {analyzer.model_version_id}: {len(todo)} to analyse, {len(ids) - len(todo)} already analysed",
    )
    for note in analyzer.unavailable:
        hook(ANALYZE_JOB, message=f"warning: {note}")
    failed = 0
    for k, media_id in enumerate(todo):
        media = repo.get_media(media_id)
        if media is None:
            failed += 1
            message = f"{media_id}: no longer in the library"
        else:
            hook(ANALYZE_JOB, current=media_id)
            repo.set_media_status(media_id, "analysing")
            try:
                result = analyze_stored(repo, analyzer, media, _within(hook, k, len(todo)))
                message = f"{media.name}: analysed"
                if result.kept_corrections:
                    message += (
                        f" (a new run; the earlier run, which {result.kept_corrections} correction"
                        f"{'s' if result.kept_corrections != 1 else ''} point to, is kept beside it)"
                    )
            except Exception as err:  # noqa: BLE001 - one bad file must not stop the batch
                failed += 1
                repo.set_media_status(media_id, "failed")
                message = f"{media.name}: {failure_reason(err, media)}"
        hook(ANALYZE_JOB, completed=k + 1, total=len(todo), message=message, current="")
    hook(ANALYZE_JOB, metrics={"analysed": len(todo) - failed, "failed": failed})
    if todo and failed == len(todo):
        raise StudioError(f"all {failed} media failed to analyse; see the log")
    return None


# the training job kinds register themselves on import: one import gives the worker every kind
@register(PROXY_JOB)
def proxy_job(repo: Repository, job, hook) -> None:
    """Browser-playable copies of ``config.media_ids`` (those a browser cannot play);
    one file's failure is logged and the rest go on."""
    cache_dir = get_settings().cache_dir
    ids = job.config.get("media_ids") or []
    made = 0
    for k, media_id in enumerate(ids):
        media = repo.get_media(media_id)
        if media is None or not needs_proxy(media):
            continue
        hook(PROXY_JOB, current=media_id)
        try:
            make_proxy(media, cache_dir)
            made += 1
            message = f"{media.name}: a browser-playable copy is ready"
        except (av.FFmpegError, OSError) as err:
            message = f"{media.name}: no browser-playable copy ({failure_reason(err, media)})"
        hook(PROXY_JOB, completed=k + 1, total=len(ids), message=message, current="")
    hook(PROXY_JOB, metrics={"made": made})


from emostudio.trainers import align, captions, finetune, rankers, selftrain  # noqa: E402, F401
