"""Analysis as a user meets it: `emostudio analyze` on generated clips with the shipped
default model, every modality present or missing, results stored and exported."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from emostudio.core.domain import Annotation
from emostudio.core.labels import BASIC
from emostudio.db.session import DatabaseError
from emostudio.services.analysis import Analyzer, analyze_stored
from emostudio.services.export import prediction_columns
from emostudio.services.ingest import ImportOptions, import_paths
from emostudio.services.versions import active_version
from emostudio.testing import face_picture, speech, write_audio, write_av


def _correct(repo, media, chunk) -> None:
    """A person relabels one predicted chunk as fear."""
    repo.add_annotation(
        Annotation(
            None,
            media.id,
            "human",
            "ana",
            label="fear",
            start=chunk.start,
            duration=chunk.duration,
            corrects_prediction_id=chunk.id,
            model_version_id=chunk.model_version_id,
        )
    )


def _run(args, data_dir):
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "emostudio.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer.load()


def _store(repo, analyzer, media):
    """``analyze_stored`` with the shipped default registered first (the CLI and the worker
    do it through ``versions.active_version``)."""
    active_version(repo)
    return analyze_stored(repo, analyzer, media)


def test_analyze_writes_clip_and_chunk_csv_for_every_modality(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    write_av(media / "talk.mp4", video_seconds=2.0, size=(256, 256), picture=face_picture(), audio=speech(2.0))
    (media / "talk.srt").write_text("1\n00:00:00,000 --> 00:00:00,500\nI am really happy to see you!\n")
    write_audio(media / "voice.wav", speech())
    write_av(media / "silent.mp4", video_seconds=1.5, size=(256, 256), picture=face_picture())
    (media / "broken.wav").write_bytes(b"RIFF" + b"\x00" * 200)

    result = _run(
        ["analyze", str(media), "--out", str(tmp_path / "p.csv"), "--chunks", str(tmp_path / "c.csv")],
        tmp_path / "data",
    )
    assert result.returncode == 1, result.stderr  # one bad file ...
    assert "broken.wav" in result.stderr
    clips = {os.path.basename(r["media"]): r for r in _rows(tmp_path / "p.csv")}
    assert set(clips) == {"talk.mp4", "voice.wav", "silent.mp4"}  # ... and the rest analysed
    assert clips["talk.mp4"]["modalities"] == "audio+face+text"
    assert clips["silent.mp4"]["modalities"] == "face"
    assert clips["voice.wav"]["modalities"].startswith("audio")
    for row in clips.values():
        probs = [float(row[f"p_{b}"]) for b in BASIC]
        assert sum(probs) == pytest.approx(1.0, abs=1e-3)
        assert row["top_emotion"] == BASIC[probs.index(max(probs))]
        assert row["top_compound"] and -1 <= float(row["arousal"]) <= 1
        assert row["model_version"].startswith("default-")
    assert clips["silent.mp4"]["top_emotion"] == "happiness"  # the smiling face, alone
    from emostudio.model.captions.phrases import VOICE_ATTRIBUTES, claims_of

    assert all(row["caption"] for row in clips.values())  # every clip has its caption
    # a video without sound: its caption says nothing about a voice
    assert not [c for c in claims_of(clips["silent.mp4"]["caption"]) if c[0] in VOICE_ATTRIBUTES]

    chunks = _rows(tmp_path / "c.csv")
    assert list(chunks[0]) == list(prediction_columns())  # the shipped model's label space
    talk = [r for r in chunks if r["media"].endswith("talk.mp4")]
    assert len(talk) == math.ceil(2.0 / 0.25) and all(r["level"] == "chunk" for r in talk)
    assert [float(r["start"]) for r in talk] == [i * 0.25 for i in range(8)]
    assert {r["text_top"] != "" for r in talk} == {True, False}  # the transcript covers the first 0.5 s of 2


def test_reanalysis_replaces_predictions_and_keeps_the_asr_transcript(tmp_path, repo, analyzer):
    path = write_audio(tmp_path / "voice.flac", speech())
    (media,) = import_paths(repo, [path], options=ImportOptions(vad=False)).added
    first = _store(repo, analyzer, media)
    assert first.asr_transcript and "text" in first.modalities
    spans = repo.segments(media.id, "transcript")
    assert [s.text for s in spans] == [s.text for s in first.asr_transcript]
    second = _store(repo, analyzer, media)
    assert second.asr_transcript == []  # the stored transcript is reused, not transcribed again
    stored = repo.predictions(media.id)
    assert len(stored) == 1 + len(second.segments)
    series = repo.chunk_series(media.id, analyzer.model_version_id)  # the chunks: one file, read back exactly
    assert series.predictions() == second.chunks
    # no VAD here: the whole clip is the one annotation unit, pooled from its chunks
    (unit,) = second.segments
    assert (unit.level, unit.start, unit.duration) == ("segment", 0.0, media.duration)
    w = np.array([min(media.duration, c.end) - c.start for c in second.chunks])  # the last chunk sticks out
    assert unit.basic == pytest.approx({k: np.dot(w, [c.basic[k] for c in second.chunks]) / w.sum() for k in BASIC})
    assert repo.active_model_version("emotion").id == analyzer.model_version_id
    assert repo.get_media(media.id).status == "analysed"


def test_a_corrected_transcript_is_a_new_version_and_reanalysis_embeds_it(tmp_path, repo, analyzer):
    from emostudio.services.annotate import CorrectionError, save_transcript, transcript_text

    path = write_audio(tmp_path / "voice.wav", speech())
    (media,) = import_paths(repo, [path], options=ImportOptions(vad=False)).added
    first = _store(repo, analyzer, media)
    asr = repo.segments(media.id, "transcript")
    text = transcript_text(asr)
    with pytest.raises(CorrectionError, match="unchanged"):
        save_transcript(repo, media, "ana", text, asr)
    with pytest.raises(CorrectionError, match="line 1"):
        save_transcript(repo, media, "ana", "no time span here", asr)
    edited = f"[0.00–{media.duration:.2f}] I hate this, I am so angry and furious with you!"
    (span,) = save_transcript(repo, media, "ana", edited, asr)
    assert span.text.startswith("I hate this") and span.source.startswith("edit:ana:")
    assert len(repo.segments(media.id, "transcript")) == len(asr) + 1  # the ASR version is kept
    second = _store(repo, analyzer, media)
    assert second.asr_transcript == []  # not transcribed again: the person's version is embedded
    with pytest.raises(DatabaseError, match="transcript corrections made by people"):
        repo.delete_media(media.id)  # what a person wrote is never deleted with the media

    def text_scores(result):
        return [c.modalities["text"] for c in result.chunks if "text" in c.modalities]

    assert text_scores(second) and text_scores(second) != text_scores(first)
    # the angry words move the text branch toward anger from what it read in the ASR's calm sentence
    assert text_scores(second)[0]["anger"] > text_scores(first)[0]["anger"]


def test_chunk_curves_follow_the_timeline(tmp_path, analyzer):
    from emostudio.services.analysis import media_for_path

    path = write_audio(tmp_path / "long.wav", speech(7.0))
    result = Analyzer.load(modalities=("audio",)).analyze(media_for_path(path))
    assert [p.start for p in result.chunks] == [i * 0.25 for i in range(28)]
    assert result.chunks[-1].end == pytest.approx(7.0)
    arousal = [p.arousal for p in result.chunks]
    assert max(arousal) - min(arousal) > 0.01  # a curve, not a constant


def test_a_corrected_run_is_kept_and_exported(tmp_path, analyzer):
    """Re-analysis stores a new run and keeps the one a person corrected (superseded, never
    deleted), so the correction still names what it corrected; export finds it."""
    from emostudio.core.config import Settings
    from emostudio.services.store import open_repository

    settings = Settings(data_dir=tmp_path / "data")
    repo = open_repository(settings)
    path = write_audio(tmp_path / "voice.wav", speech())
    (media,) = import_paths(repo, [path], options=ImportOptions(vad=False)).added
    _store(repo, analyzer, media)
    chunk = repo.predictions(media.id, level="segment")[0]
    _correct(repo, media, chunk)
    before = [p.id for p in repo.predictions(media.id)]
    _store(repo, analyzer, media)
    after = [p.id for p in repo.predictions(media.id)]
    assert len(after) == len(before) and not set(after) & set(before)  # the new run is the current one
    assert repo.get_prediction(chunk.id) == chunk  # the corrected prediction is still there, unchanged
    (saved,) = repo.annotations(media.id)
    assert saved.corrects_prediction_id == chunk.id

    out = _run(
        [
            "export",
            "--clips",
            str(tmp_path / "clips.csv"),
            "--annotations",
            str(tmp_path / "ann.csv"),
            "--annotator",
            "ana",
        ],
        tmp_path / "data",
    )
    assert out.returncode == 0, out.stderr
    assert "1 clips" in out.stdout and "1 annotations" in out.stdout
    (row,) = _rows(tmp_path / "ann.csv")
    assert (row["label"], row["annotator"], row["source"]) == ("fear", "ana", "human")
    assert float(row["start"]) == chunk.start and row["corrects_prediction_id"] == str(chunk.id)
    (clip,) = _rows(tmp_path / "clips.csv")
    assert clip["media"] == str(path.resolve()) or clip["media"].endswith("voice.wav")


def test_inspect_figure_draws_the_stored_curves_and_corrections(tmp_path, repo, analyzer):
    import plotly.graph_objects as go

    from emostudio.core.domain import Annotation
    from emostudio.services.inspect import load_clip_view
    from emostudio.ui.figure import array_values, curves_figure

    path = write_audio(tmp_path / "voice.wav", speech())
    (media,) = import_paths(repo, [path]).added
    result = _store(repo, analyzer, media)
    repo.add_annotation(Annotation(None, media.id, "human", "ana", label="anger", start=0.5, duration=0.5))
    view = load_clip_view(repo, media.id)
    assert len(view.chunks) == len(result.chunks) and view.speech and view.transcript
    fig = curves_figure(view)
    names = [trace["name"] for trace in fig["data"]]
    assert {"arousal", "valence", "dominance", *BASIC, "speech", "transcript"} <= set(names)
    arousal = next(trace for trace in fig["data"] if trace["name"] == "arousal")
    assert list(array_values(arousal["y"])) == pytest.approx([p.arousal for p in result.chunks], abs=1e-6)
    assert {s["x0"] for s in fig["layout"]["shapes"]} == {0.5}  # the correction, drawn over every row
    assert "anger" in fig["layout"]["annotations"][-1]["text"]
    go.Figure(fig)  # built as a plain dict for speed: plotly checks that it knows every property


def test_a_correction_saved_after_a_reanalysis_of_the_open_clip_still_stores(tmp_path, repo, analyzer):
    """Open a clip, let the worker re-analyse it, then save from the page as it was: ten
    times over, every correction is stored and names the prediction its annotator saw."""
    from emostudio.services.annotate import save_correction
    from emostudio.services.inspect import load_clip_view

    (media,) = import_paths(repo, [write_audio(tmp_path / "voice.wav", speech())]).added
    _store(repo, analyzer, media)
    for k in range(10):
        view = load_clip_view(repo, media.id)  # what the annotator has on screen
        _store(repo, analyzer, media)  # the worker re-analyses meanwhile
        unit = view.units[k % len(view.units)]
        saved = save_correction(repo, media, "ana", unit.start, unit.end, "fear", corrects=unit)
        assert saved.corrects_prediction_id == unit.id and repo.get_prediction(unit.id) == unit
    assert len(repo.annotations(media.id, source="human")) == 10
    assert all(p.id not in {a.corrects_prediction_id for a in repo.annotations()} for p in repo.predictions(media.id))


def test_long_media_are_analysed_a_block_at_a_time_like_one_pass(tmp_path, analyzer, monkeypatch):
    """Block-wise analysis (used past 20 minutes) agrees with one pass over the media:
    scaled down here to 40 s in 16 s blocks with 8 s of context (multiples of the Whisper
    encoder's 8 s windows, as the real 10-minute blocks and 2-minute context are)."""
    import emostudio.services.analysis as analysis
    from emostudio.features import FeatureCache
    from emostudio.services.analysis import media_for_path

    path = write_audio(tmp_path / "talk.wav", speech(40.0))
    one = Analyzer.load(cache=FeatureCache(tmp_path / "c1"), modalities=("audio",), asr=False)
    whole = one.analyze(media_for_path(path), speech=[])
    monkeypatch.setattr(analysis, "LONG_MEDIA", 20.0)
    monkeypatch.setattr(analysis, "BLOCK", 16.0)
    monkeypatch.setattr(analysis, "CONTEXT", 8.0)
    blocked = Analyzer.load(cache=FeatureCache(tmp_path / "c2"), modalities=("audio",), asr=False)
    assert [b[:2] for b in blocked.blocks(media_for_path(path))] == [(0.0, 24.0), (8.0, 40.0), (24.0, 40.0)]
    parts = blocked.analyze(media_for_path(path), speech=[])

    def probs(result):
        return np.array([[c.basic[b] for b in BASIC] for c in result.chunks])

    assert [c.start for c in parts.chunks] == [c.start for c in whole.chunks]
    assert np.abs(probs(parts) - probs(whole)).mean() < 0.02
    assert parts.clip.top_label == whole.clip.top_label
    # 0.03, not 0.02: the Whisper encoder's frames of a block differ from the one-pass
    # frames (its window layout follows the decoded span's length), which the retrained
    # model feels more; aligning the encoder windows to media time is the open fix
    assert max(abs(parts.clip.basic[b] - whole.clip.basic[b]) for b in BASIC) < 0.03


def test_speech_recognition_only_hears_speech(tmp_path, monkeypatch):
    """Whisper runs inside the speech regions (padded, joined across short pauses, cut
    to its 30 s window), never on silence: no region, no call."""
    import emostudio.features.asr as asr
    from emostudio.services.analysis import media_for_path

    assert asr.speech_regions([(1.0, 2.0), (3.5, 1.0), (10.0, 0.5)], 12.0) == [(0.8, 4.7), (9.8, 10.7)]
    assert asr.speech_regions([(0.0, 70.0)], 70.0) == [(0.0, 28.0), (28.0, 56.0), (56.0, 70.0)]
    calls = []

    class Whisper:
        def transcribe(self, audio, **_):
            calls.append(len(audio) / 16000)
            return [], None

    monkeypatch.setattr(asr, "asr_model", lambda: Whisper())
    media = media_for_path(write_audio(tmp_path / "quiet.wav", np.zeros(16000 * 30, np.float32)))
    assert asr.transcribe(media, None, []) == [] and calls == []
    asr.transcribe(media, None, [(2.0, 1.0), (20.0, 2.0)])
    assert calls == pytest.approx([1.4, 2.4])


def test_exported_text_never_runs_as_a_spreadsheet_formula(tmp_path, repo):
    from emostudio.core.domain import Annotation
    from emostudio.services.export import export_table, write_csv

    (media,) = import_paths(
        repo, [write_audio(tmp_path / "a.wav", speech(1.0))], options=ImportOptions(vad=False)
    ).added
    names = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")', "ana"]
    for name in names:
        repo.add_annotation(
            Annotation(None, media.id, "human", name, label="anger", valence=-0.5, start=0.0, duration=0.5)
        )
    write_csv(tmp_path / "a.csv", *reversed(export_table(repo, "annotations")))
    rows = _rows(tmp_path / "a.csv")
    assert [r["annotator"] for r in rows] == ["'" + n for n in names[:-1]] + ["ana"]
    assert {r["valence"] for r in rows} == {"-0.5"}  # numbers are numbers, minus sign and all


def test_activating_a_registered_version_analyses_under_its_own_id(tmp_path, monkeypatch):
    """A trainer registers a model as 'v2'; activating it queues re-analysis, and the job,
    run by the worker end to end, stores predictions under 'v2': the pages (which read the
    active version) show them, and no second, invented version appears."""
    import shutil

    import emostudio.trainers.jobs  # noqa: F401 - registers the analysis job with the worker
    from emostudio.core.config import Settings
    from emostudio.model.network import default_model_path
    from emostudio.services.library import LibraryFilter, studio_rows
    from emostudio.services.store import open_repository
    from emostudio.services.versions import activate, register_folder
    from emostudio.trainers.worker import run_once

    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.setattr("emostudio.trainers.jobs.get_settings", lambda: settings)
    repo = open_repository(settings)
    (media,) = import_paths(repo, [write_audio(tmp_path / "voice.wav", speech())]).added
    default = active_version(repo)
    folder = shutil.copytree(default_model_path(), tmp_path / "models" / "v2")
    register_folder(repo, folder, version_id="v2", parent_id=default.id)
    version, job = activate(repo, "v2")
    assert version.active and job is not None
    done = run_once(repo, "test-worker")
    assert (done.id, done.status) == (job.id, "succeeded"), done.log
    assert "model v2: 1 to analyse" in done.log
    assert {p.model_version_id for p in repo.predictions(media.id)} == {"v2"}
    assert [v.id for v in repo.list_model_versions()] == [default.id, "v2"]
    (row,) = studio_rows(repo, LibraryFilter())
    assert row[4] in BASIC and row[6] == "v2"  # top emotion and model version on the Library page
    repo.enqueue_job("analyze", {"media_ids": [media.id]})  # nothing left for v2 to do
    assert "model v2: 0 to analyse, 1 already analysed" in run_once(repo, "test-worker").log


def test_reanalysing_a_corrected_media_keeps_the_corrected_run_and_says_so(tmp_path, monkeypatch):
    import emostudio.trainers.jobs  # noqa: F401
    from emostudio.core.config import Settings
    from emostudio.services.library import queue_analysis
    from emostudio.services.store import open_repository
    from emostudio.trainers.worker import run_once

    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.setattr("emostudio.trainers.jobs.get_settings", lambda: settings)
    repo = open_repository(settings)
    (media,) = import_paths(repo, [write_audio(tmp_path / "voice.wav", speech())]).added
    queue_analysis(repo, [media.id])
    assert run_once(repo, "w").status == "succeeded"
    chunk = repo.predictions(media.id, level="segment")[0]
    _correct(repo, media, chunk)
    queue_analysis(repo, [media.id], force=True)
    job = run_once(repo, "w")
    assert job.status == "succeeded"
    assert "voice.wav: analysed (a new run; the earlier run, which 1 correction point to, is kept beside it)" in job.log
    assert repo.get_prediction(chunk.id) == chunk and chunk.id not in {p.id for p in repo.predictions(media.id)}
    assert repo.get_media(media.id).status == "analysed"
    from emostudio.services.inspect import load_clip_view
    from emostudio.ui.clip_panel import player_html

    page = player_html(load_clip_view(repo, media.id), "inspect")  # what the Inspect page says about it
    assert "1 correction was made on an earlier analysis of this clip; that run is kept" in page


def test_an_unavailable_extractor_is_one_warning_and_the_batch_goes_on(tmp_path, monkeypatch, capsys):
    """Without the face model's weights, a batch of videos is still analysed (audio and
    text), with one warning line, and the CSV is written."""
    import emostudio.features.face as face
    from emostudio.core.config import get_settings
    from emostudio.services.batch import analyze_paths

    monkeypatch.setattr(face, "WEIGHTS", tmp_path / "missing.safetensors")
    monkeypatch.setenv("EMOSTUDIO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        clip = write_av(
            tmp_path / "talk.mp4", video_seconds=2.0, size=(128, 128), picture=face_picture(), audio=speech(2.0)
        )
        errors = analyze_paths(
            [clip],
            out=tmp_path / "p.csv",
            chunks=None,
            model=None,
            modalities=("audio", "face", "text"),
            asr=False,
            vad=True,
        )
    finally:
        get_settings.cache_clear()
    assert errors == []
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("warning:")]
    assert (
        line == "warning: face analysis is off: the face model's weights are missing from the installation "
        "(missing.safetensors)"
    )
    (row,) = _rows(tmp_path / "p.csv")
    assert row["modalities"] == "audio" and row["top_emotion"] in BASIC


def test_a_version_s_label_space_drives_its_columns_and_the_annotate_choices(tmp_path):
    """A version predicting a corpus's own classes (no compounds) exports exactly those
    columns, and the Annotate page offers exactly those labels."""
    from emostudio.core.domain import ModelVersion, Prediction
    from emostudio.core.labels import LabelSpace
    from emostudio.services.export import export_table
    from emostudio.services.inspect import active_labels, load_clip_view
    from emostudio.testing import temp_repository

    repo = temp_repository(tmp_path)
    labels = LabelSpace(basic=("neutral", "anger", "boredom"), compound=())
    repo.add_model_version(ModelVersion("emodb-3", "emotion", str(tmp_path), label_space=labels.to_json(), active=True))
    (media,) = import_paths(
        repo, [write_audio(tmp_path / "a.wav", speech(1.0))], options=ImportOptions(vad=False)
    ).added
    basic = {"neutral": 0.2, "anger": 0.7, "boredom": 0.1}
    repo.replace_predictions(
        media.id, "emodb-3", [Prediction(None, media.id, "emodb-3", "x", "clip", 0.0, 1.0, basic=basic, arousal=0.5)]
    )
    columns, rows = export_table(repo, "clips")
    (row,) = list(rows)
    assert [c for c in columns if c.startswith(("p_", "c_"))] == ["p_neutral", "p_anger", "p_boredom"]
    assert row["p_boredom"] == 0.1 and row["top_emotion"] == "anger"
    assert active_labels(repo) == labels and load_clip_view(repo, media.id).labels.labels == labels.basic


def test_speech_recognition_detects_the_language_and_only_understood_text_votes(tmp_path, shared_data, monkeypatch):
    """German speech is transcribed in German and marked so; it votes only through a
    sentence encoder that reads German (the shipped model's, multilingual, does; the
    English one would not), and a language no encoder here reads never votes."""
    from types import SimpleNamespace

    import emostudio.features.asr as asr
    from emostudio.core.domain import Segment
    from emostudio.features import get_extractor
    from emostudio.services.analysis import media_for_path

    analyzer = Analyzer.load(asr=True)
    german = analyzer.analyze(media_for_path(shared_data / "emodb" / "wav" / "03a01Fa.flac"))
    assert {s.language for s in german.asr_transcript} == {"de"}
    assert "Lappen" in " ".join(s.text for s in german.asr_transcript)  # "Der Lappen liegt auf dem Eisschrank."
    reads_german = analyzer.text.understands(Segment(None, "m", "transcript", 0.0, 1.0, text="x", language="de"))
    assert ("text" in german.modalities) == ("text" in german.clip.modalities) == reads_german
    assert get_extractor("text-use-m3").languages != get_extractor("text-minilm").languages == ("en",)
    english = analyzer.analyze(media_for_path(write_audio(tmp_path / "en.wav", speech())))
    assert {s.language for s in english.asr_transcript} == {"en"}
    assert "text" in english.modalities

    class Finnish:  # Whisper recognises Finnish; neither sentence encoder was trained on it
        def transcribe(self, audio, **_):
            piece = SimpleNamespace(
                text=" Hyvää huomenta.", start=0.0, end=2.0, no_speech_prob=0.1, avg_logprob=-0.2, compression_ratio=1.1
            )
            return [piece], SimpleNamespace(language="fi", language_probability=0.98)

    monkeypatch.setattr(asr, "asr_model", lambda: Finnish())
    finnish = analyzer.analyze(media_for_path(write_audio(tmp_path / "fi.wav", speech(3.0))))
    assert {s.language for s in finnish.asr_transcript} == {"fi"}
    assert "text" not in finnish.modalities


def test_a_looping_or_unsure_recognition_is_dropped_before_the_text_branch(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import emostudio.features.asr as asr
    from emostudio.services.analysis import media_for_path

    def piece(text, no_speech=0.1, logprob=-0.3, ratio=1.2):
        return SimpleNamespace(
            text=text, start=0.0, end=2.0, no_speech_prob=no_speech, avg_logprob=logprob, compression_ratio=ratio
        )

    heard = [
        piece(" The dogs are sitting by the door."),
        piece(" I am a man. I am a man. I am a man."),  # a decoder loop
        piece(" Thank you for watching!", no_speech=0.9),  # what Whisper says to silence
        piece(" mumble", logprob=-1.6),
        piece(" la " * 30, ratio=3.1),
    ]

    class Whisper:
        def transcribe(self, audio, **_):
            return heard, SimpleNamespace(language="en", language_probability=0.99)

    monkeypatch.setattr(asr, "asr_model", lambda: Whisper())
    media = media_for_path(write_audio(tmp_path / "a.wav", speech(4.0)))
    spans = asr.transcribe(media, None, [(0.5, 3.0)])
    assert [(s.text, s.language) for s in spans] == [("The dogs are sitting by the door.", "en")]
    assert not asr.repeats_itself("The dogs are sitting by the door and the kids are talking.")
