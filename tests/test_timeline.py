"""What the Annotate page's timeline is given to draw (``timeline_value``): lanes per
annotator with imported and pseudo-labels apart, whole-media labels across the clip, a
clip not analysed yet, traces, transcript, and a library label set's names."""

from __future__ import annotations

import json

import pytest

from emostudio.core.domain import Annotation, Prediction
from emostudio.core.labels import BASIC
from emostudio.services.annotate import save_correction
from emostudio.services.ingest import import_paths
from emostudio.services.inspect import load_clip_view
from emostudio.services.traces import save_trace
from emostudio.testing import speech, temp_repository, write_audio
from emostudio.ui.timeline import timeline_value


@pytest.fixture
def clip(tmp_path):
    repo = temp_repository(tmp_path)
    media = import_paths(repo, [write_audio(tmp_path / "talk.wav", speech(3.0))]).added[0]
    return repo, media


def test_a_clip_not_analysed_yet_has_a_player_and_says_analysis_is_pending(clip):
    repo, media = clip
    value = timeline_value(load_clip_view(repo, media.id))
    assert value["media"] == {
        "id": media.id,
        "url": f"media/{media.id}",
        "kind": "audio",
        "duration": media.duration,
        "name": "talk.wav",
    }
    assert value["message"].startswith("Analysis pending") and value["curves"]["t"] == [] and value["units"] == []
    json.dumps(value)  # what the browser receives


def test_each_annotator_has_a_lane_imports_and_pseudo_labels_have_theirs_and_whole_media_labels_span_the_clip(clip):
    repo, media = clip
    save_correction(repo, media, "ben", 0.0, 1.0, "anger")
    save_correction(repo, media, "ana", 0.0, 1.0, "sadness", confidence=0.6)
    save_correction(repo, media, "ana", 0.0, 1.0, "fear")  # her newer label replaces hers on the lane
    save_correction(repo, media, "ana", 1.0, 2.0, avd={"valence": 0.5})
    repo.add_annotation(Annotation(None, media.id, "import", "import:labels.csv", label="happiness", raw_label="hap"))
    repo.add_annotation(Annotation(None, media.id, "pseudo", "v2", label="neutral", start=2.0, duration=1.0))
    value = timeline_value(load_clip_view(repo, media.id))
    lanes = {lane["name"]: lane["spans"] for lane in value["lanes"]}
    assert list(lanes) == ["ana", "ben", "imported", "pseudo-labels"]
    assert [(s["s"], s["e"], s["text"]) for s in lanes["ana"]] == [(0.0, 1.0, "fear"), (1.0, 2.0, "V+0.5")]
    assert [(s["s"], s["e"], s["text"]) for s in lanes["imported"]] == [(0.0, media.duration, "hap")]
    assert lanes["pseudo-labels"][0]["text"] == "neutral"


def test_the_newest_pass_of_each_trace_the_selection_and_the_curves_go_to_the_browser(clip):
    repo, media = clip
    save_trace(repo, media, "ana", "arousal", 0.0, [0.1, 0.2, 0.3])
    save_trace(repo, media, "ana", "arousal", 0.5, [0.4, 0.5])
    chunk = Prediction(None, media.id, "v", "x", "chunk", 0.0, 0.25, basic=dict.fromkeys(BASIC, 1 / 7), arousal=0.2)
    view = load_clip_view(repo, media.id)
    view = view.__class__(**{**view.__dict__, "chunks": [chunk]})
    value = timeline_value(view, selection=(0.5, 1.25), traces=view.traces)
    assert value["traces"] == [
        {"annotator": "ana", "dimension": "arousal", "start": 0.5, "rate": 10.0, "values": [0.4, 0.5]}
    ]
    assert value["selection"] == [0.5, 1.25] and value["curves"]["t"] == [0.125] and value["curves"]["arousal"] == [0.2]
    assert value["basic"]["names"] == list(BASIC) and value["basic"]["p"] == [[round(1 / 7, 3)] * 7]
