"""A library of many media: the Library page pages, sorts and filters in the database;
the uncertainty queue is one indexed query and ranks exactly as sorting every segment
would; the disagreement queue reads only media two people labelled."""

from __future__ import annotations

import hashlib
import random

import pytest

from emostudio.core.domain import Annotation, Media, MediaInfo, ModelVersion, Prediction
from emostudio.core.labels import BASIC
from emostudio.services.agreement import library_disagreements
from emostudio.services.annotate import balanced_order, queue_length, retract_annotation, uncertainty_queue
from emostudio.services.library import LibraryFilter, studio_page

N = 130


def _probs(rng: random.Random) -> dict[str, float]:
    raw = [rng.random() ** 3 for _ in BASIC]
    return {b: v / sum(raw) for b, v in zip(BASIC, raw)}


@pytest.fixture
def library(repo):
    """``N`` media (no files: the table needs their records only), each with a clip and two
    segment predictions by the active version ``v1``; every third one is still imported."""
    rng = random.Random(3)
    repo.add_model_version(ModelVersion("v1", "emotion", "/models/v1"))
    repo.activate_model_version("v1")
    media = []
    for i in range(N):
        name = f"clip-{rng.randrange(10**6):06d}.wav"
        digest = hashlib.sha256(name.encode() + bytes([i % 256, i // 256])).hexdigest()
        m = Media(digest[:16], f"/corpus/{name}", name, digest, 1_000, MediaInfo("wav", 1.0 + i % 7, True, False))
        repo.add_media(m)
        media.append(m)
        if i % 3 == 0:
            continue
        units = [
            Prediction(None, m.id, "v1", "x", level, start, duration, basic=_probs(rng))
            for level, start, duration in (("clip", 0.0, m.duration), ("segment", 0.0, 0.5), ("segment", 0.5, 0.5))
        ]
        repo.replace_predictions(m.id, "v1", units)
        repo.set_media_status(m.id, "analysed")
    return repo, media


def test_the_library_pages_sorts_and_filters_in_the_database(library):
    repo, media = library
    first = studio_page(repo, sort="name")
    assert (first.total, first.pages, len(first.rows)) == (N, 3, 50)
    names = sorted(m.name for m in media)
    pages = [studio_page(repo, sort="name", page=k).rows for k in range(3)]
    assert [r[0] for page in pages for r in page] == names  # every media once, in order
    assert studio_page(repo, sort="name", page=99).page == 2  # past the end: the last page
    longest = studio_page(repo, sort="duration", descending=True).rows[0]
    assert longest[1] == max(m.duration for m in media)

    tops = {}
    for p in repo.predictions(model_version_id="v1", level="clip"):
        tops[p.media_id] = p.top_label
    anger = studio_page(repo, LibraryFilter(top_emotion="anger"))
    assert anger.total == sum(t == "anger" for t in tops.values()) > 0
    assert {r[-1] for r in anger.rows} <= {m for m, t in tops.items() if t == "anger"}
    waiting = studio_page(repo, LibraryFilter(status="imported"))
    assert waiting.total == len(range(0, N, 3)) and all(r[4] == "" for r in waiting.rows)

    target = media[7]
    repo.add_annotation(Annotation(None, target.id, "human", "ana", label="anger", start=0.0, duration=0.5))
    assert [r[-1] for r in studio_page(repo, LibraryFilter(annotated="yes")).rows] == [target.id]
    assert studio_page(repo, LibraryFilter(annotated="no")).total == N - 1
    assert [r[0] for r in studio_page(repo, LibraryFilter(text=target.name.upper()[5:11])).rows] == [target.name]


def test_the_uncertainty_queue_ranks_as_sorting_every_segment_would(library):
    repo, media = library
    segments = repo.predictions(model_version_id="v1", level="segment")
    labelled = segments[:5]
    for p in labelled:  # ana labelled five segments: spans over their middles
        saved = repo.add_annotation(
            Annotation(None, p.media_id, "human", "ana", label="fear", start=p.start + 0.1, duration=0.3)
        )
    retract_annotation(repo, saved.id, "ana")  # ...and took the last one back: it is due again
    left = [p for p in segments if p not in labelled[:4]]

    def key(p):
        return (p.media_id, p.start)

    by_margin = sorted(left, key=lambda p: (p.margin, *key(p)))
    assert [key(q.prediction) for q in uncertainty_queue(repo, "ana", "margin")] == [key(p) for p in by_margin]
    assert [key(q.prediction) for q in uncertainty_queue(repo, "ana", "margin", limit=3)] == [
        key(p) for p in by_margin[:3]
    ]
    by_entropy = sorted(left, key=lambda p: (-p.entropy, *key(p)))
    assert [key(q.prediction) for q in uncertainty_queue(repo, "ana", "entropy", limit=10)] == [
        key(p) for p in by_entropy[:10]
    ]
    ordered = sorted(left, key=lambda p: (p.media_id, p.start))
    balanced = [key(ordered[i]) for i in balanced_order(ordered)]
    assert [key(q.prediction) for q in uncertainty_queue(repo, "ana", "balanced", limit=12)] == balanced[:12]
    assert queue_length(repo, "ana") == len(left) and queue_length(repo, "ben") == len(segments)


def test_the_disagreement_queue_reads_only_media_two_people_labelled(library, monkeypatch):
    repo, media = library
    a, b = media[1], media[2]
    for who, label in (("ana", "anger"), ("ben", "happiness")):
        repo.add_annotation(Annotation(None, a.id, "human", who, label=label, start=0.0, duration=0.5))
    repo.add_annotation(Annotation(None, b.id, "human", "ana", label="anger", start=0.0, duration=0.5))
    asked = []
    real = repo.predictions

    def predictions(*args, **kwargs):
        asked.append(kwargs.get("media_ids"))
        return real(*args, **kwargs)

    monkeypatch.setattr(repo, "predictions", predictions)
    (found,) = library_disagreements(repo, rows=False)
    assert found.media_id == a.id and found.says == {"ana": "anger", "ben": "happiness"}
    assert asked == [[a.id]]
