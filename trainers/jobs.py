"""Worker jobs that are not training: analysing imported media with the active model.

Importing this module registers the job kinds with the worker.
"""

from __future__ import annotations

from emostudio.analysis import analyze_stored
from emostudio.batch import load_analyzer
from emostudio.config import get_settings
from emostudio.features import FeatureCache
from emostudio.library import ANALYZE_JOB
from emostudio.model import MODALITIES
from trainers.worker import register

_analyzers: dict[str, object] = {}


def _analyzer(repo):
    """The active model's analyzer, loaded once per worker process and model version."""
    settings = get_settings()
    active = repo.active_model_version("emotion")
    key = active.id if active else "default"
    if key not in _analyzers:
        cache = FeatureCache(settings.cache_dir / "features", repo)
        _analyzers.clear()  # one model in memory at a time
        _analyzers[key] = load_analyzer(repo, None, MODALITIES, asr=True, cache=cache, face_fps=settings.video_fps)
    return _analyzers[key]


@register(ANALYZE_JOB)
def analyze_job(repo, job, hook) -> None:
    """Analyse ``config.media_ids`` (default: every media); media the model already
    analysed are skipped unless ``config.force``. One file's failure is logged, marks
    that media ``failed``, and the job goes on with the rest."""
    analyzer = _analyzer(repo)
    ids = job.config.get("media_ids") or [s.media.id for s in repo.list_media()]
    done = set() if job.config.get("force") else set(repo.clip_probabilities(analyzer.model_version_id))
    todo = [i for i in ids if i not in done]
    hook(ANALYZE_JOB, completed=0, total=len(todo),
         message=f"model {analyzer.model_version_id}: {len(todo)} to analyse, {len(ids) - len(todo)} already analysed")  # fmt: skip
    failed = 0
    for k, media_id in enumerate(todo):
        media = repo.get_media(media_id)
        if media is None:
            failed += 1
            message = f"{media_id}: no longer in the library"
        else:
            repo.set_media_status(media_id, "analysing")
            try:
                analyze_stored(repo, analyzer, media)
                message = f"{media.name}: analysed"
            except Exception as err:  # noqa: BLE001 - one bad file must not stop the batch
                failed += 1
                repo.set_media_status(media_id, "failed")
                message = f"{media.name}: {type(err).__name__}: {err}"
        hook(ANALYZE_JOB, completed=k + 1, total=len(todo), message=message)
    hook(ANALYZE_JOB, metrics={"analysed": len(todo) - failed, "failed": failed})
    if todo and failed == len(todo):
        raise RuntimeError(f"all {failed} media failed to analyse; see the log")
    return None
