"""The services behind the studio's pages: annotation units, corrections, the
uncertainty queue, the library table, model versions, analysis jobs, media serving."""

from __future__ import annotations

import pytest

from emostudio.core.domain import ModelVersion, Prediction, Segment
from emostudio.core.labels import BASIC
from emostudio.model.segments import annotation_units, pool_chunks
from emostudio.services.annotate import CorrectionError, save_caption, save_correction, uncertainty_queue
from emostudio.services.ingest import ImportOptions, import_paths
from emostudio.services.inspect import avd_spread, chunk_at, load_clip_view, ranked_emotions, unit_index_at
from emostudio.services.library import LibraryFilter, studio_rows
from emostudio.services.versions import activate, previous_version
from emostudio.testing import speech, tone, write_audio


def _chunk(i: int, probs: dict, media_id="m", version="v1", hop=0.25, **extra) -> Prediction:
    return Prediction(None, media_id, version, "x", "chunk", i * hop, hop, basic=probs, **extra)


def _probs(**top) -> dict:
    rest = (1.0 - sum(top.values())) / (len(BASIC) - len(top))
    return {b: top.get(b, rest) for b in BASIC}


@pytest.mark.parametrize(
    "speech_spans, duration, expected",
    [
        ([], 3.0, [(0.0, 3.0)]),  # no VAD: the clip is one unit
        ([(0.5, 1.0), (2.0, 0.5)], 3.0, [(0.5, 1.0), (2.0, 0.5)]),
        ([(2.0, 2.0)], 3.0, [(2.0, 1.0)]),  # clipped to the media
        ([(1.0, 0.0)], 3.0, [(0.0, 3.0)]),  # empty spans do not count
    ],
)
def test_annotation_units(speech_spans, duration, expected):
    segments = [Segment(None, "m", "speech", s, d) for s, d in speech_spans]
    assert [pytest.approx(u) for u in annotation_units(duration, segments)] == expected


def test_a_segment_pools_its_chunks_by_overlap_and_modalities_by_presence():
    chunks = [
        _chunk(0, _probs(anger=0.9), arousal=0.8, modalities={"audio": {"anger": 0.9, "weight": 1.0}}),
        _chunk(
            1,
            _probs(anger=0.9),
            arousal=0.8,
            modalities={"audio": {"anger": 0.9, "weight": 0.5}, "face": {"anger": 0.1, "weight": 0.5}},
        ),
        _chunk(2, _probs(sadness=0.9), arousal=-0.4, modalities={"audio": {"anger": 0.1, "weight": 1.0}}),
    ]
    seg = pool_chunks(chunks, 0.125, 0.5)  # half of chunk 0, all of chunk 1, half of chunk 2
    assert (seg.level, seg.start, seg.duration) == ("segment", 0.125, 0.5)
    assert seg.basic["anger"] == pytest.approx(0.25 * 0.9 + 0.5 * 0.9 + 0.25 * (0.1 / 6))
    assert seg.arousal == pytest.approx(0.25 * 0.8 + 0.5 * 0.8 + 0.25 * -0.4)
    assert seg.modalities["face"]["anger"] == pytest.approx(0.1)  # only the chunk that had a face
    assert seg.modalities["face"]["weight"] == pytest.approx(0.5 * 0.5)  # a face for half the segment
    with pytest.raises(ValueError, match="no chunk"):
        pool_chunks(chunks, 5.0, 1.0)


def test_uncertainty_measures_rank_a_hesitant_prediction_first():
    sure = _chunk(0, _probs(anger=0.9))
    torn = _chunk(0, _probs(anger=0.4, fear=0.38))
    assert torn.margin < sure.margin and torn.entropy > sure.entropy
    assert avd_spread(_probs(happiness=1.0 - 6e-9))[1] < 0.01 < avd_spread(torn.basic)[1]


@pytest.fixture
def analysed(tmp_path, repo):
    """Two imported media with stored predictions of one registered model version:
    "calm.wav" is sure of its segments, "torn.wav" hesitates in its second one."""
    model_dir = tmp_path / "v1"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"weights")
    repo.add_model_version(ModelVersion("v1", "emotion", str(model_dir), active=True))
    media = {}
    for name, freq in (("calm.wav", 220.0), ("torn.wav", 440.0)):
        path = write_audio(tmp_path / name, tone(2.0, freq))
        (m,) = import_paths(repo, [path], options=ImportOptions(vad=False)).added
        media[name] = m
        sure, hesitant = (
            _probs(neutral=0.9),
            _probs(anger=0.45, fear=0.4) if name == "torn.wav" else _probs(neutral=0.8),
        )
        chunks = [_chunk(i, sure if i < 4 else hesitant, m.id) for i in range(8)]
        segments = [pool_chunks(chunks, 0.0, 1.0), pool_chunks(chunks, 1.0, 1.0)]
        clip = Prediction(None, m.id, "v1", "x", "clip", 0.0, 2.0, basic=hesitant)
        repo.replace_predictions(m.id, "v1", [clip, *segments, *chunks])
        repo.set_media_status(m.id, "analysed")
    return media


def test_the_queue_puts_the_most_uncertain_segment_first_and_skips_what_i_labelled(repo, analysed):
    torn = analysed["torn.wav"]
    queue = uncertainty_queue(repo, "ana")
    assert len(queue) == 4
    first = queue[0]
    assert (first.media_id, first.prediction.start) == (torn.id, 1.0)
    assert [q.score for q in queue] == sorted(q.score for q in queue)
    assert uncertainty_queue(repo, "ana", by="entropy")[0].prediction == first.prediction

    save_correction(repo, torn, "ana", 1.0, 2.0, "anger", corrects=first.prediction)
    mine = uncertainty_queue(repo, "ana")
    assert len(mine) == 3 and first.prediction not in [q.prediction for q in mine]
    assert len(uncertainty_queue(repo, "bo")) == 4  # another annotator still gets it


def test_the_balanced_queue_takes_turns_across_the_predicted_emotions():
    """A model that calls most clips neutral, some of them barely: margin ranking asks
    about neutral clips first; the balanced order alternates with the other emotions."""
    from emostudio.services.annotate import balanced_order

    def clip(**probs):
        return Prediction(None, "m", "v1", "x", "clip", 0.0, 1.0, basic=_probs(**probs))

    preds = [clip(neutral=0.5 + 0.02 * k, sadness=0.45 - 0.02 * k) for k in range(6)]
    preds += [clip(anger=0.7, fear=0.2), clip(anger=0.9), clip(happiness=0.6, surprise=0.3)]
    by_margin = sorted(range(len(preds)), key=lambda i: preds[i].margin)
    assert {preds[i].top_label for i in by_margin[:3]} == {"neutral"}
    order = balanced_order(preds)
    assert sorted(order) == list(range(len(preds)))  # every clip, once
    assert {preds[i].top_label for i in order[:3]} == {"neutral", "anger", "happiness"}
    assert order[0] == by_margin[0]  # the most uncertain clip still comes first
    tops = [preds[i].top_label for i in order]
    assert tops.index("anger") < tops.index("neutral", 1)  # turns, not blocks
    assert order[tops.index("anger")] == 6  # within an emotion: smallest margin first


def test_a_correction_is_appended_with_what_it_corrects(repo, analysed):
    torn = analysed["torn.wav"]
    view = load_clip_view(repo, torn.id)
    assert [u.start for u in view.units] == [0.0, 1.0] and unit_index_at(view, 1.7) == 1
    assert chunk_at(view, 1.3).start == 1.25 and chunk_at(view, 5.0) is None
    unit = view.units[1]
    a = save_correction(repo, torn, " ana ", 1.0, 2.0, "Angry", {"arousal": 0.7}, corrects=unit)
    b = save_correction(repo, torn, "ana", 1.0, 2.0, "happily surprised", corrects=unit)
    assert (a.label, a.raw_label, a.annotator, a.arousal, a.source) == ("anger", "Angry", "ana", 0.7, "human")
    assert (a.corrects_prediction_id, a.model_version_id) == (unit.id, "v1")
    assert b.label == "happily surprised"
    c = save_correction(repo, torn, "ana", 1.25, 1.75, "fear", model_version_id="v1")  # a chunk range of her own
    assert (c.corrects_prediction_id, c.model_version_id, c.start, c.duration) == (None, "v1", 1.25, 0.5)
    # both are kept, oldest first, and the view shows them
    assert [x.label for x in repo.annotations(torn.id)] == ["anger", "happily surprised", "fear"]
    assert len(load_clip_view(repo, torn.id).corrections) == 3


@pytest.mark.parametrize(
    "annotator, start, end, label, avd, problem",
    [
        ("", 0.0, 1.0, "anger", None, "annotator name is required"),
        ("ana", 1.0, 1.0, "anger", None, "empty"),
        ("ana", 0.0, 9.0, "anger", None, "after the end of torn.wav"),
        ("ana", 0.0, 1.0, "bored stiff", None, "unknown label 'bored stiff'"),
        ("ana", 0.0, 1.0, None, {"valence": 1.5}, "valence must be between -1 and 1"),
        ("ana", 0.0, 1.0, None, None, "nothing to save"),
    ],
)
def test_a_correction_that_cannot_be_saved_says_why_and_stores_nothing(
    repo, analysed, annotator, start, end, label, avd, problem
):
    with pytest.raises(CorrectionError, match=problem):
        save_correction(repo, analysed["torn.wav"], annotator, start, end, label, avd)
    assert repo.annotations() == []


def test_caption_edits_are_new_rows(repo, analysed):
    m = analysed["calm.wav"]
    first = save_caption(repo, m, "ana", "She sounds calm and flat.")
    second = save_caption(repo, m, "bo", "Calm, a little tired.", previous=first)
    assert second.corrects_caption_id == first.id
    assert [c.text for c in repo.captions(m.id)] == ["She sounds calm and flat.", "Calm, a little tired."]
    with pytest.raises(CorrectionError, match="unchanged"):
        save_caption(repo, m, "bo", "Calm, a little tired. ", previous=second)


def test_library_rows_show_top_emotion_and_annotation_and_filter(repo, analysed):
    rows = {r[0]: r for r in studio_rows(repo)}
    assert rows["torn.wav"][3:7] == ("analysed", "anger", "no", "v1")
    save_correction(repo, analysed["calm.wav"], "ana", 0.0, 1.0, "neutral")
    assert [r[0] for r in studio_rows(repo, LibraryFilter(annotated="yes"))] == ["calm.wav"]
    assert [r[0] for r in studio_rows(repo, LibraryFilter(top_emotion="anger"))] == ["torn.wav"]
    assert [r[0] for r in studio_rows(repo, LibraryFilter(text="CALM"))] == ["calm.wav"]


def test_ranked_emotions_give_each_modality_alone():
    p = _chunk(
        0, _probs(anger=0.6), compound={"sadly angry": 0.2}, modalities={"audio": {**_probs(anger=0.8), "weight": 0.7}}
    )
    rows = ranked_emotions(p)
    assert rows[0][:4] == ("basic", "anger", 0.6, 0.8) and rows[0][4:] == ("", "")  # no face, no text
    sadly_angry = next(r for r in rows if r[1] == "sadly angry")
    assert sadly_angry[3] == pytest.approx((0.8 * (0.2 / 6)) ** 0.5, abs=1e-3)


def test_activate_and_roll_back_model_versions(tmp_path, repo, analysed):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "model.safetensors").write_bytes(b"newer")
    repo.add_model_version(ModelVersion("v2", "emotion", str(v2), parent_id="v1"))
    version, job = activate(repo, "v2")
    assert version.active and repo.active_model_version("emotion").id == "v2"
    assert job.kind == "analyze"  # the new version re-analyses the library
    assert previous_version(repo).id == "v1"
    repo.add_model_version(ModelVersion("gone", "emotion", str(tmp_path / "nowhere")))
    with pytest.raises(FileNotFoundError, match="weights are missing"):
        activate(repo, "gone")
    assert repo.active_model_version("emotion").id == "v2"


def test_the_analysis_job_analyses_new_media_and_a_bad_file_fails_alone(tmp_path, monkeypatch):
    import emostudio.trainers.jobs  # noqa: F401 - registers the job kind
    from emostudio.core.config import get_settings
    from emostudio.services.library import queue_analysis
    from emostudio.services.store import open_repository
    from emostudio.trainers.worker import run_once

    monkeypatch.setenv("EMOSTUDIO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        repo = open_repository()
        good = write_audio(tmp_path / "voice.wav", speech(3.0))
        bad = write_audio(tmp_path / "broken.wav", tone(3.0))
        report = import_paths(repo, [good, bad])
        bad.write_bytes(b"no longer audio" * 100)  # damaged after import: decoding fails in the worker
        job = queue_analysis(repo, [m.id for m in report.added])
        done = run_once(repo, "w")
        assert done.id == job.id and done.status == "succeeded"
        assert done.metrics == {"analysed": 1, "failed": 1}
        assert (done.progress_completed, done.progress_total) == (2, 2)
        assert "voice.wav: analysed" in done.log and "broken.wav:" in done.log
        status = {s.media.name: s.media.status for s in repo.list_media()}
        assert status == {"voice.wav": "analysed", "broken.wav": "failed"}
        voice = next(m for m in report.added if m.name == "voice.wav")
        view = load_clip_view(repo, voice.id, cache=None)
        assert view.segments and len(view.chunks) == 12  # segments for the Annotate page, stored at analysis
        # what the Inspect page draws was saved too: no decoding when it opens
        from emostudio.features import FeatureCache

        cached = load_clip_view(repo, voice.id, cache=FeatureCache(get_settings().cache_dir / "features"))
        assert cached.peaks is not None and len(cached.peaks) == 60  # 3 s at 20 per second
        # a second job skips what the active model already analysed
        again = run_once(repo, "w") if queue_analysis(repo, [voice.id]) else None
        assert again.metrics == {"analysed": 0, "failed": 0}
    finally:
        get_settings.cache_clear()


def test_the_server_streams_media_by_id_with_ranges(tmp_path, repo):
    from fastapi.testclient import TestClient

    from emostudio.core.config import Settings
    from emostudio.ui.server import create_server

    (m,) = import_paths(
        repo, [write_audio(tmp_path / "voice.wav", speech(2.0))], options=ImportOptions(vad=False)
    ).added
    client = TestClient(create_server(repo, Settings(data_dir=tmp_path / "data")), base_url="http://127.0.0.1")
    whole = client.get(f"/media/{m.id}")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert len(whole.content) == m.size_bytes
    part = client.get(f"/media/{m.id}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]  # the player can seek
    assert client.get("/media/nope").status_code == 404
    (tmp_path / "voice.wav").unlink()
    gone = client.get(f"/media/{m.id}")
    assert gone.status_code == 410 and "no longer" in gone.json()["error"] and str(tmp_path) not in gone.text


def test_uploads_bring_their_transcripts_and_label_file_along(tmp_path, repo):
    from emostudio.services.library import import_uploads

    # the browser hands each upload over in its own temporary folder
    def upload(name: str, write) -> str:
        folder = tmp_path / "uploads" / name.replace(".", "_")
        folder.mkdir(parents=True)
        return str(write(folder / name))

    files = [
        upload("talk.wav", lambda p: write_audio(p, speech(2.0))),
        upload("talk.srt", lambda p: (p.write_text("1\n00:00:00,000 --> 00:00:01,000\nHello there\n"), p)[1]),
        upload("labels.csv", lambda p: (p.write_text("path,emotion\ntalk.wav,happy\nmissing.wav,sad\n"), p)[1]),
    ]
    report = import_uploads(repo, files, tmp_path / "store")
    (media,) = report.added
    assert media.stored and media.path.startswith(str(tmp_path / "store")) and media.name == "talk.wav"
    assert [s.text for s in repo.segments(media.id, "transcript")] == ["Hello there"]
    (label,) = repo.annotations(media.id)
    assert (label.label, label.source, label.annotator) == ("happiness", "import", "import:labels.csv")
    assert len(report.errors) == 1 and "missing.wav" in report.errors[0]  # named, and the rest went on
