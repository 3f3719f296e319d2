"""ELAN and Praat files: what emostudio writes opens with pympi-ling and praatio and
holds the media's segments, transcript, each annotator's labels, the model's
predictions and curves, and the traces; files made with those libraries import as
labels, transcripts and traces; a written file imported into another library brings
back the same labels and traces."""

from __future__ import annotations

import csv

import numpy as np
import pympi.Elan
import pytest
from praatio import textgrid

from emostudio.core.domain import Annotation, Segment, Trace
from emostudio.services.analysis import Analyzer, analyze_stored
from emostudio.services.ingest import import_paths
from emostudio.services.tierfiles import TierFileError, export_tier_file, import_tier_file
from emostudio.services.versions import active_version
from emostudio.testing import speech, temp_repository, write_audio


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """An analysed media with a transcript, two annotators' labels (one whole-media, with
    dimensions) and a trace."""
    root = tmp_path_factory.mktemp("tiers")
    repo = temp_repository(root)
    path = write_audio(root / "talk.wav", np.concatenate([speech(2.5), np.zeros(16000, "f4"), speech(2.5)]))
    (media,) = import_paths(repo, [path]).added
    active_version(repo)
    analyze_stored(repo, Analyzer.load(), media)
    repo.add_segments([Segment(None, media.id, "transcript", 0.2, 1.8, "hello there", source="talk.srt")])
    labels = [
        Annotation(None, media.id, "human", "ana", label="anger", start=0.5, duration=1.0),
        Annotation(
            None, media.id, "human", "ana", label="sadness", arousal=-0.5, valence=-0.25, start=3.6, duration=1.2
        ),
        Annotation(None, media.id, "human", "ben", label="happiness", raw_label="Happy"),  # the whole media
    ]
    for a in labels:
        repo.add_annotation(a)
    values = tuple(None if k in (3, 4) else round(np.sin(k / 5) * 0.8, 3) for k in range(50))
    repo.add_trace(Trace(None, media.id, "ana", "arousal", 0.5, 10.0, values))
    return repo, media, root, values


def _eaf_labels(eaf, tier):
    return [(a[0], a[1], a[2]) for a in sorted(eaf.get_annotation_data_for_tier(tier))]


def test_an_eaf_written_by_the_studio_opens_with_pympi_and_holds_everything(studio):
    repo, media, root, values = studio
    written = export_tier_file(repo, media.id, root / "talk.eaf")
    eaf = pympi.Elan.Eaf(str(root / "talk.eaf"))
    version = repo.active_model_version().id
    assert set(eaf.get_tier_names()) == {
        "speech",
        "transcript",
        "labels: ana",
        "labels: ben",
        f"model: {version}",
    }
    speech_segments = repo.segments(media.id, "speech")
    assert _eaf_labels(eaf, "speech") == [
        (round(s.start * 1000), round(s.end * 1000), "speech") for s in speech_segments
    ]
    assert _eaf_labels(eaf, "transcript") == [(200, 2000, "hello there")]
    assert _eaf_labels(eaf, "labels: ana") == [
        (500, 1500, "anger"),
        (3600, 4800, "sadness; arousal -0.50; valence -0.25"),
    ]
    assert _eaf_labels(eaf, "labels: ben") == [(0, round(media.duration * 1000), "Happy")]
    units = repo.predictions(media.id, version, level="segment")
    assert [a[2].split()[0] for a in _eaf_labels(eaf, f"model: {version}")] == [u.top_label for u in units]
    assert Eaf_media(eaf) == "talk.wav"
    linked = {f["RELATIVE_LINK_URL"].removeprefix("./") for f in eaf.get_secondary_linked_files()}
    assert linked == {p.name for p in written[1:]} and len(linked) == 4  # the trace and the model's three curves
    with open(root / "talk.trace-ana-arousal.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["time", "trace ana arousal"] and len(rows) == 51
    assert [float(r[1]) if r[1] else None for r in rows[1:]] == list(values)
    assert float(rows[2][0]) == pytest.approx(0.6)


def Eaf_media(eaf) -> str:  # noqa: N802 - reads like the ELAN field
    return eaf.get_linked_files()[0]["RELATIVE_MEDIA_URL"]


def test_a_textgrid_written_by_the_studio_opens_with_praatio_and_holds_everything(studio):
    repo, media, root, values = studio
    export_tier_file(repo, media.name, root / "talk.TextGrid")
    grid = textgrid.openTextgrid(str(root / "talk.TextGrid"), includeEmptyIntervals=False)
    assert [(e.start, e.end, e.label) for e in grid.getTier("labels: ana").entries] == [
        (0.5, 1.5, "anger"),
        (3.6, 4.8, "sadness; arousal -0.50; valence -0.25"),
    ]
    assert [e.label for e in grid.getTier("transcript").entries] == ["hello there"]
    assert len(grid.getTier("speech").entries) == len(repo.segments(media.id, "speech"))
    trace = grid.getTier("trace ana arousal")
    assert [float(p.label) for p in trace.entries] == [v for v in values if v is not None]
    assert trace.entries[0].time == pytest.approx(0.5)
    assert grid.maxTimestamp == pytest.approx(media.duration)


@pytest.mark.parametrize("suffix", [".eaf", ".TextGrid"])
def test_a_written_file_imports_back_the_same_labels_and_trace(studio, tmp_path, suffix):
    repo, media, root, values = studio
    export_tier_file(repo, media.id, root / f"again{suffix}")
    other = temp_repository(tmp_path)
    (copy,) = import_paths(other, [root / "talk.wav"]).added
    found, done = import_tier_file(other, root / f"again{suffix}", media_key="talk.wav")
    assert found.id == copy.id and (done.labels, done.transcript, done.traces) == (3, 1, 1)
    got = sorted(
        (a.annotator, a.label, a.raw_label, a.start, a.duration, a.arousal, a.valence)
        for a in other.annotations(copy.id)
    )
    assert got == [
        ("ana", "anger", None, 0.5, 1.0, None, None),
        ("ana", "sadness", None, 3.6, 1.2, -0.5, -0.25),
        ("ben", "happiness", "Happy", None, None, None, None),
    ]
    assert all(a.source == "import" for a in other.annotations(copy.id))
    (trace,) = other.traces(copy.id)
    assert (trace.annotator, trace.dimension, trace.start, trace.rate) == ("ana", "arousal", 0.5, 10.0)
    assert trace.values == values
    assert [s.text for s in other.segments(copy.id, "transcript")] == ["hello there"]
    _, again = import_tier_file(other, root / f"again{suffix}", media_key=copy.id)
    assert again.labels == 0  # the same file twice stores its labels once


def test_files_made_with_pympi_and_praatio_import_as_labels_transcripts_and_traces(tmp_path):
    repo = temp_repository(tmp_path)
    (media,) = import_paths(repo, [write_audio(tmp_path / "session.wav", speech(4.0))]).added
    eaf = pympi.Elan.Eaf()
    eaf.add_linked_file("session.wav", relpath="session.wav", mimetype="audio/x-wav")
    eaf.add_tier("Emotion")
    eaf.add_annotation("Emotion", 0, 1500, "Angry")
    eaf.add_annotation("Emotion", 1500, 3000, "happily surprised")
    eaf.add_tier("Words")
    eaf.add_annotation("Words", 100, 900, "well then")
    with open(tmp_path / "valence.csv", "w", newline="") as f:
        csv.writer(f).writerows(
            [("time", "trace cleo valence"), *((f"{k * 0.25:.2f}", f"{k / 20:.2f}") for k in range(8))]
        )
    eaf.add_secondary_linked_file("valence.csv", relpath="./valence.csv", mimetype="text/csv")
    eaf.to_file(str(tmp_path / "session-notes.eaf"))
    found, done = import_tier_file(repo, tmp_path / "session-notes.eaf")  # found through the EAF's linked media
    assert found.id == media.id and (done.labels, done.transcript, done.traces) == (2, 1, 1)
    labels = sorted((a.annotator, a.label, a.raw_label, a.start) for a in repo.annotations(media.id))
    assert labels == [("Emotion", "anger", "Angry", 0.0), ("Emotion", "happily surprised", None, 1.5)]
    (trace,) = repo.traces(media.id)
    assert (trace.annotator, trace.dimension, trace.rate) == ("cleo", "valence", 4.0)
    assert trace.values == pytest.approx([k / 20 for k in range(8)])

    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=4.0)
    grid.addTier(textgrid.IntervalTier("coder2", [(0.0, 2.0, "sad"), (2.0, 4.0, "neutral")], 0.0, 4.0))
    grid.addTier(textgrid.IntervalTier("utterance", [(0.1, 3.9, "it is over")], 0.0, 4.0))
    grid.addTier(textgrid.PointTier("trace dee arousal", [(0.5, "0.1"), (1.0, "0.3"), (2.0, "0.5")], 0.0, 4.0))
    grid.save(str(tmp_path / "session.TextGrid"), format="short_textgrid", includeBlankSpaces=True)
    found, done = import_tier_file(repo, tmp_path / "session.TextGrid")  # found by its name
    assert found.id == media.id and (done.labels, done.transcript, done.traces) == (2, 1, 1)
    coder = [(a.label, a.start, a.duration) for a in repo.annotations(media.id, annotator="coder2")]
    assert coder == [("sadness", 0.0, 2.0), ("neutral", 2.0, 2.0)]
    trace = [t for t in repo.traces(media.id) if t.annotator == "dee"][0]
    assert (trace.rate, trace.values) == (2.0, (0.1, 0.3, None, 0.5))  # a missing sample stays missing


def test_a_tier_file_that_cannot_be_read_or_placed_is_one_sentence(tmp_path):
    repo = temp_repository(tmp_path)
    (tmp_path / "broken.eaf").write_text("<ANNOTATION_DOCUMENT><oops")
    with pytest.raises(TierFileError, match=r"^broken\.eaf: not a readable eaf file"):
        import_tier_file(repo, tmp_path / "broken.eaf")
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=1.0)
    grid.addTier(textgrid.IntervalTier("x", [(0.0, 1.0, "anger")], 0.0, 1.0))
    grid.save(str(tmp_path / "nobody.TextGrid"), format="long_textgrid", includeBlankSpaces=True)
    with pytest.raises(TierFileError, match=r"^nobody\.TextGrid: no media in the library matches it"):
        import_tier_file(repo, tmp_path / "nobody.TextGrid")


def test_the_label_studio_export_holds_each_persons_labels_and_the_models_predictions(studio, tmp_path):
    """Tasks in Label Studio's import format: the media, one annotation per person (their
    regions, per-region dimensions, a whole-media choice) and the model's segment
    predictions with scores; every result names a control of the labelling interface."""
    import json
    import xml.etree.ElementTree as ET

    from emostudio.services.labelstudio import write_label_studio

    repo, media, root, values = studio
    config_path, n = write_label_studio(repo, tmp_path / "tasks.json")
    (task,) = json.loads((tmp_path / "tasks.json").read_text())
    assert n == 1 and task["data"] == {
        "audio": f"/media/{media.id}",
        "media_id": media.id,
        "name": "talk.wav",
        "duration": round(media.duration, 3),
    }
    by_person = {a["meta"]["annotator"]: a["result"] for a in task["annotations"]}
    assert set(by_person) == {"ana", "ben"}
    regions = [
        (r["value"]["start"], r["value"]["end"], r["value"]["labels"])
        for r in by_person["ana"]
        if r["type"] == "labels"
    ]
    assert regions == [(0.5, 1.5, ["anger"]), (3.6, 4.8, ["sadness"])]
    numbers = {r["from_name"]: r["value"]["number"] for r in by_person["ana"] if r["type"] == "number"}
    assert numbers == {"arousal": -0.5, "valence": -0.25}
    assert by_person["ben"] == [
        {
            "id": by_person["ben"][0]["id"],
            "from_name": "media_emotion",
            "to_name": "audio",
            "type": "choices",
            "value": {"choices": ["happiness"]},
        }
    ]
    version = repo.active_model_version().id
    (prediction,) = task["predictions"]
    units = repo.predictions(media.id, version, level="segment")
    assert prediction["model_version"] == version
    assert [(r["value"]["labels"][0], r["score"]) for r in prediction["result"]] == [
        (u.top_label, round(u.basic[u.top_label], 4)) for u in units
    ]
    config = ET.fromstring(config_path.read_text())
    controls = {e.get("name"): e for e in config.iter() if e.get("toName") == "audio"}
    used = {r["from_name"] for a in task["annotations"] for r in a["result"]} | {"emotion"}
    assert used <= set(controls) and config.find("Audio").get("value") == "$audio"
    offered = {e.get("value") for e in controls["emotion"]}
    assert {"anger", "sadness", "happily surprised"} <= offered


def test_the_export_page_writes_a_file_per_media_for_elan_and_praat_and_one_for_label_studio(studio, tmp_path):
    """What the Export page's "for another annotation tool" writes: a missing media is one
    line and the others are still written; Label Studio gets the tasks and the interface."""
    from emostudio.ui.export_page import ELAN, LABEL_STUDIO, PRAAT, tool_files

    repo, media, _, _ = studio
    written, failed = tool_files(repo, tmp_path, PRAAT, ["no-such-media", media.id], None)
    assert [(p.name, what) for p, what in written] == [("talk.TextGrid", "tiers")]
    assert failed == ["no-such-media: there is no media 'no-such-media' in the library"]
    grid = textgrid.openTextgrid(str(written[0][0]), includeEmptyIntervals=False)
    assert [e.label for e in grid.getTier("labels: ana").entries][0] == "anger"
    written, failed = tool_files(repo, tmp_path, ELAN, [media.id, media.id], None)  # named alike: both kept
    eafs = [p for p, what in written if what == "tiers"]
    assert [p.name for p in eafs] == ["talk.eaf", f"talk-{media.id}.eaf"] and not failed
    assert len({p.name for p, _ in written}) == len(written) > 2  # each with its own time series beside it
    assert pympi.Elan.Eaf(str(eafs[1])).get_annotation_data_for_tier("labels: ben")
    written, failed = tool_files(repo, tmp_path, LABEL_STUDIO, [], None)
    assert [what for _, what in written] == ["1 tasks", "labelling interface"] and not failed
