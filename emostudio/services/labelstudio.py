"""Label Studio export: one task per media, with the model's predictions and people's
annotations as audio regions, so a team can move a project over.

The export is a JSON list of tasks (Label Studio's "import tasks" format) and the
labelling interface that reads them (``label_config``): an audio player, one region
label per basic and compound emotion (``emotion``), per-region arousal/valence/dominance numbers, and
a whole-media emotion choice (``media_emotion``). Each person's current labels become
one annotation of the task (the annotator's name in ``meta``); the active model
version's segment predictions become the task's prediction, scored by the segment's
probability.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

from emostudio.core.domain import Annotation, Media, Prediction
from emostudio.core.files import atomic_write
from emostudio.core.labels import DIMENSIONS, LABELS, LabelSpace
from emostudio.db.repository import Repository


def label_config(labels: LabelSpace) -> str:
    """The labelling interface (Label Studio's XML) the tasks are made for."""
    emotions = "\n".join(f"    <Label value={quoteattr(b)}/>" for b in (*labels.basic, *labels.compound))
    choices = "\n".join(f"    <Choice value={quoteattr(b)}/>" for b in (*labels.basic, *labels.compound))
    numbers = "\n".join(
        f'  <Number name="{d}" toName="audio" perRegion="true" min="-1" max="1" step="0.01"/>' for d in DIMENSIONS
    )
    return (
        "<View>\n"
        '  <Audio name="audio" value="$audio"/>\n'
        '  <Labels name="emotion" toName="audio">\n'
        f"{emotions}\n  </Labels>\n{numbers}\n"
        '  <Choices name="media_emotion" toName="audio" choice="single">\n'
        f"{choices}\n  </Choices>\n</View>\n"
    )


def _region(key: str, start: float, end: float, duration: float, label: str | None) -> list[dict]:
    value = {"start": round(start, 3), "end": round(end, 3), "channel": 0}
    if label is None:
        return []
    return [
        {
            "id": key,
            "from_name": "emotion",
            "to_name": "audio",
            "type": "labels",
            "original_length": round(duration, 3),
            "value": {**value, "labels": [label]},
        }
    ]


def _annotation_results(a: Annotation, media: Media) -> list[dict]:
    key = f"a{a.id}"
    if a.start is None:  # a whole-media label
        return (
            [
                {
                    "id": key,
                    "from_name": "media_emotion",
                    "to_name": "audio",
                    "type": "choices",
                    "value": {"choices": [a.label]},
                }
            ]
            if a.label
            else []
        )
    results = _region(key, a.start, a.end, media.duration, a.label)
    for d in DIMENSIONS:
        value = getattr(a, d)
        if value is not None:
            span = {"start": round(a.start, 3), "end": round(a.end, 3), "channel": 0}
            results.append(
                {
                    "id": key,
                    "from_name": d,
                    "to_name": "audio",
                    "type": "number",
                    "original_length": round(media.duration, 3),
                    "value": {**span, "number": round(value, 3)},
                }
            )
    return results


def _prediction(version: str, units: list[Prediction], media: Media) -> dict:
    results = []
    for k, p in enumerate(units):
        if p.top_label is None:
            continue
        region = _region(f"p{k}", p.start, p.end, media.duration, p.top_label)
        region[0]["score"] = round(p.basic[p.top_label], 4)
        results += region
    score = sum(r["score"] for r in results) / len(results) if results else None
    return {"model_version": version, "score": score, "result": results}


def label_studio_tasks(repo: Repository, model_version: str | None, media_url: str = "/media/{id}") -> list[dict]:
    """One task per media: ``data.audio`` is ``media_url`` with the media's id (the studio's
    own route by default; a Label Studio project points it at its storage)."""
    tasks = []
    offset = 0
    while True:  # a page of the library at a time
        entries, total = repo.media_page(model_version, sort="name", offset=offset, limit=500)
        for entry in entries:
            media = entry.media
            by_person: dict[str, list[Annotation]] = {}
            for a in repo.annotations(media.id):
                if a.source != "pseudo":
                    by_person.setdefault(a.annotator, []).append(a)
            task = {
                "data": {
                    "audio": media_url.format(id=media.id, name=media.name),
                    "media_id": media.id,
                    "name": media.name,
                    "duration": round(media.duration, 3),
                },
                "annotations": [
                    {
                        "result": [r for a in mine for r in _annotation_results(a, media)],
                        "meta": {"annotator": who, "source": mine[0].source},
                        "was_cancelled": False,
                        "ground_truth": False,
                    }
                    for who, mine in sorted(by_person.items())
                ],
                "predictions": [],
            }
            if model_version is not None:
                units = repo.predictions(media.id, model_version, level="segment")
                if units:
                    task["predictions"].append(_prediction(model_version, units, media))
            tasks.append(task)
        offset += len(entries)
        if not entries or offset >= total:
            return tasks


def write_label_studio(repo: Repository, path: str | Path, model_version: str | None = None) -> tuple[Path, int]:
    """Write the tasks to ``path`` (JSON) and the labelling interface beside it
    (``<name>.label_config.xml``); returns the interface's path and the number of tasks."""
    path = Path(path)
    version = repo.get_model_version(model_version) if model_version else repo.active_model_version()
    labels = LabelSpace.from_json(version.label_space) if version is not None else LABELS
    tasks = label_studio_tasks(repo, version.id if version else None)
    atomic_write(path, lambda f: f.write(json.dumps(tasks, indent=1, ensure_ascii=False)), mode="w", encoding="utf-8")
    config = path.with_name(f"{path.stem}.label_config.xml")
    atomic_write(config, lambda f: f.write(label_config(labels)), mode="w", encoding="utf-8")
    return config, len(tasks)
