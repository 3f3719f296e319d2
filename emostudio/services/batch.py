"""Headless batch analysis (``emostudio analyze``), optionally sharded across processes
with accelerate: each process imports and analyses its share of the files and writes a
part CSV; the main process merges the parts in input order."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from emostudio.core.config import get_settings
from emostudio.core.errors import StudioError
from emostudio.core.paths import studio_policy
from emostudio.features import FeatureCache
from emostudio.media.decode import MediaError
from emostudio.services.analysis import analyze_stored
from emostudio.services.export import prediction_columns, prediction_row, write_csv
from emostudio.services.ingest import ImportOptions, collect_files, import_paths
from emostudio.services.store import open_repository
from emostudio.services.versions import load_analyzer


def analyze_paths(
    paths, *, out: Path, chunks: Path | None, model: Path | None, modalities, asr: bool, vad: bool, state=None
) -> list[str]:
    """Returns the errors (one line each, naming the file); every other file is analysed."""
    settings = get_settings()
    rank, world = (state.process_index, state.num_processes) if state is not None else (0, 1)
    if state is not None and state.device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    elif state is not None and state.device.type == "cuda":
        torch.cuda.set_device(state.device)  # one GPU per process: "cuda" below means this one
    policy = studio_policy(settings)
    for target in (out, chunks):
        if target is not None:
            policy.check_output(target)
    files, errors = collect_files(paths, policy)
    errors = errors if rank == 0 else []  # every process sees the same bad paths; report them once
    mine = files[rank::world]
    repo = open_repository(settings)
    report = import_paths(repo, mine, options=ImportOptions(media_dir=settings.media_dir, vad=vad, policy=policy))
    errors += [str(e) for e in report.errors]
    cache = FeatureCache(settings.cache_dir / "features", repo)
    analyzer = load_analyzer(repo, model, cache=cache, modalities=modalities, asr=asr, face_fps=settings.video_fps)
    if rank == 0:
        for note in analyzer.unavailable:
            print(f"warning: {note}", file=sys.stderr)
    if not (analyzer.audio_extractors or analyzer.face or analyzer.text):
        raise StudioError("no modality can be analysed here: " + "; ".join(analyzer.unavailable))
    labels = analyzer.model.config.labels
    clip_rows, chunk_rows = [], []
    media_by_path = {}
    for media in report.added + report.known:
        media_by_path.setdefault(media.path, media)
    todo = list(dict.fromkeys(media_by_path.values()))
    # the bar counts seconds of media, so an hour-long file moves it block by block
    bar = tqdm(
        total=round(sum(m.duration for m in todo)),
        desc=f"analyse[{rank}]" if world > 1 else "analyse",
        unit="s",
        disable=rank != 0 and world > 1,
    )
    for media in todo:
        before = bar.n

        def moved(done: float, _duration: float, before: int = before) -> None:
            bar.update(before + round(done) - bar.n)

        try:
            result = analyze_stored(repo, analyzer, media, moved)
        except (MediaError, RuntimeError, ValueError) as err:
            errors.append(f"{media.path}: {err}")
            continue
        finally:
            bar.update(before + round(media.duration) - bar.n)
        clip_rows.append(prediction_row(media, result.clip, labels, result.captions[0] if result.captions else None))
        chunk_rows += [prediction_row(media, p, labels) for p in result.chunks]
    bar.close()
    suffix = f".part{rank}" if world > 1 else ""
    columns = prediction_columns(labels)
    write_csv(f"{out}{suffix}", clip_rows, columns)
    if chunks is not None:
        write_csv(f"{chunks}{suffix}", chunk_rows, columns)
    if world > 1:
        _write_errors(f"{out}.errors{rank}", errors)
        state.wait_for_everyone()
        if state.is_main_process:
            _merge(out, world)
            if chunks is not None:
                _merge(chunks, world)
            errors = sum((_read_errors(f"{out}.errors{r}") for r in range(world)), [])
        else:
            errors = []
    if rank == 0:
        print(f"{out}: {_count_rows(out)} clips" + (f"; {chunks}: {_count_rows(chunks)} chunks" if chunks else ""))
    return errors


def _merge(path: Path, world: int) -> None:
    rows, header = [], None
    for r in range(world):
        part = Path(f"{path}.part{r}")
        with open(part, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames
            rows += list(reader)
        part.unlink()
    rows.sort(key=lambda row: (row["media"], row["level"], float(row["start"])))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def _write_errors(path: str, errors: list[str]) -> None:
    Path(path).write_text("\n".join(errors), encoding="utf-8")


def _read_errors(path: str) -> list[str]:
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    p.unlink()
    return [line for line in text.splitlines() if line]


def _count_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as f:
        return max(0, sum(1 for _ in f) - 1)
