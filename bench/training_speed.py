"""How long a fine-tuning job takes, as a person using the studio sees it:

    python -m bench.training_speed [--data ../shared/data] [--cache CACHE] [--clips 1000]

A studio folder in a temporary directory holds ``--clips`` RAVDESS clips with their
labels (imported, speakers known) and the feature cache (``--cache``: the benchmark
cache, so features are cached as they are for analysed media). A worker process runs,
warm and polling, as the studio starts it; the job is queued as the Train page queues it.

Figures (issue 12's goals): seconds from queueing to the first progress line (< 5 s) and
to the registered version (< 60 s on 2 CPU cores), with the job's own steps and held-out
figures. Writes ``bench/results/training_speed.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import write_results
from emostudio.core.config import get_settings
from emostudio.core.domain import FINETUNE_JOB, Annotation
from emostudio.db.repository import Repository
from emostudio.db.session import open_database
from emostudio.media.recipes import load_corpus
from emostudio.services.analysis import media_for_path
from emostudio.services.training import queue_training
from emostudio.services.versions import active_version


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--cache", default=None, type=Path, help="feature cache (default: <data_dir>/cache/features)")
    parser.add_argument("--clips", default=1000, type=int)
    args = parser.parse_args(argv)
    cache = (args.cache or get_settings().cache_dir / "features").resolve()
    with tempfile.TemporaryDirectory(prefix="emostudio-training-speed-") as tmp:
        data_dir = Path(tmp) / "data"
        (data_dir / "cache").mkdir(parents=True)
        (data_dir / "cache" / "features").symlink_to(cache)
        repo = Repository(open_database(f"sqlite:///{data_dir / 'emostudio.db'}"))
        parent = active_version(repo)
        items = load_corpus("ravdess", args.data)[: args.clips]
        for item in items:
            media = media_for_path(item.path)
            repo.add_media(media)
            repo.set_media_speaker(media.id, item.speaker)
            repo.add_annotation(Annotation(None, media.id, "import", "ravdess", label=item.label))
        env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data_dir), "EMOSTUDIO_WORKER_POLL_SECONDS": "0.2"}
        worker = subprocess.Popen([sys.executable, "-m", "emostudio.cli", "worker"], env=env)
        try:
            while not repo.processes(role="worker"):  # the worker is up, its imports done
                time.sleep(0.2)
            time.sleep(2.0)
            queued = time.monotonic()
            job = queue_training(repo, FINETUNE_JOB, {}, requested_by="bench")
            first = trained = None
            while True:
                current = repo.get_job(job.id)
                now = time.monotonic() - queued
                if first is None and current.log:
                    first = now
                if trained is None and current.progress_total and "epoch" in current.log:
                    trained = now  # the first epoch's line: features loaded, training under way
                if current.status not in ("queued", "running"):
                    break
                time.sleep(0.05)
            done = time.monotonic() - queued
        finally:
            worker.terminate()
            worker.wait(timeout=60)
        if current.status != "succeeded":
            raise SystemExit(f"the job {current.status}: {current.error}\n{current.log}")
        version = repo.get_model_version(current.model_version_id)
        held = version.metrics["heldout"]
        figures = {
            "clips": len(items),
            "parent": parent.id,
            "seconds_to_first_progress": round(first, 2),
            "seconds_to_first_epoch": round(trained, 2) if trained is not None else None,
            "seconds_to_registered_version": round(done, 2),
            "steps": current.progress_total,
            "train_spans": version.metrics["train"]["spans"],
            "heldout_spans": held["spans"],
            "heldout_uar": {"model": held["model"]["uar"], "parent": held["parent"]["uar"]},
            "cpu_cores": os.cpu_count(),
        }
    print(
        f"fine-tuning on {figures['clips']} labelled clips: first progress {figures['seconds_to_first_progress']:.1f} s "
        f"(goal < 5), registered version {figures['seconds_to_registered_version']:.1f} s (goal < 60); "
        f"held-out UAR {held['model']['uar']:.3f} (parent {held['parent']['uar']:.3f})"
    )
    print(f"wrote {write_results('training_speed', figures)}")


if __name__ == "__main__":
    main()
