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

from emostudio.analysis import Analyzer, analyze_stored
from emostudio.export import PREDICTION_COLUMNS
from emostudio.ingest import ImportOptions, import_paths
from emostudio.labels import BASIC
from emostudio.testing import face_picture, speech, write_audio, write_av


def _run(args, data_dir):
    env = {**os.environ, "EMOSTUDIO_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "emostudio.cli", *args], env=env, capture_output=True, text=True, timeout=600)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer.load()


def test_analyze_writes_clip_and_chunk_csv_for_every_modality(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    write_av(media / "talk.mp4", video_seconds=2.0, size=(256, 256), picture=face_picture(), audio=speech(2.0))
    (media / "talk.srt").write_text("1\n00:00:00,000 --> 00:00:00,500\nI am really happy to see you!\n")
    write_audio(media / "voice.wav", speech())
    write_av(media / "silent.mp4", video_seconds=1.5, size=(256, 256), picture=face_picture())
    (media / "broken.wav").write_bytes(b"RIFF" + b"\x00" * 200)

    result = _run(["analyze", str(media), "--out", str(tmp_path / "p.csv"), "--chunks", str(tmp_path / "c.csv")], tmp_path / "data")
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

    chunks = _rows(tmp_path / "c.csv")
    assert list(chunks[0]) == list(PREDICTION_COLUMNS)
    talk = [r for r in chunks if r["media"].endswith("talk.mp4")]
    assert len(talk) == math.ceil(2.0 / 0.25) and all(r["level"] == "chunk" for r in talk)
    assert [float(r["start"]) for r in talk] == [i * 0.25 for i in range(8)]
    assert {r["text_top"] != "" for r in talk} == {True, False}  # the transcript covers the first 0.5 s of 2


def test_reanalysis_replaces_predictions_and_keeps_the_asr_transcript(tmp_path, repo, analyzer):
    path = write_audio(tmp_path / "voice.flac", speech())
    (media,) = import_paths(repo, [path], options=ImportOptions(vad=False)).added
    first = analyze_stored(repo, analyzer, media)
    assert first.asr_transcript and "text" in first.modalities
    spans = repo.segments(media.id, "transcript")
    assert [s.text for s in spans] == [s.text for s in first.asr_transcript]
    second = analyze_stored(repo, analyzer, media)
    assert second.asr_transcript == []  # the stored transcript is reused, not transcribed again
    stored = repo.predictions(media.id)
    assert len(stored) == 1 + len(second.segments) + len(second.chunks)
    # no VAD here: the whole clip is the one annotation unit, pooled from its chunks
    (unit,) = second.segments
    assert (unit.level, unit.start, unit.duration) == ("segment", 0.0, media.duration)
    w = np.array([min(media.duration, c.end) - c.start for c in second.chunks])  # the last chunk sticks out
    assert unit.basic == pytest.approx({k: np.dot(w, [c.basic[k] for c in second.chunks]) / w.sum() for k in BASIC})
    assert repo.active_model_version("emotion").id == analyzer.model_version_id
    assert repo.get_media(media.id).status == "analysed"


def test_chunk_curves_follow_the_timeline(tmp_path, analyzer):
    from emostudio.analysis import media_for_path

    path = write_audio(tmp_path / "long.wav", speech(7.0))
    result = Analyzer.load(modalities=("audio",)).analyze(media_for_path(path))
    assert [p.start for p in result.chunks] == [i * 0.25 for i in range(28)]
    assert result.chunks[-1].end == pytest.approx(7.0)
    arousal = [p.arousal for p in result.chunks]
    assert max(arousal) - min(arousal) > 0.01  # a curve, not a constant


def test_a_corrected_run_is_kept_and_exported(tmp_path, analyzer):
    """Re-analysis stores a new run and keeps the one a person corrected (superseded, never
    deleted), so the correction still names what it corrected; export finds it."""
    from emostudio.config import Settings
    from emostudio.domain import Annotation
    from emostudio.store import open_repository

    settings = Settings(data_dir=tmp_path / "data")
    repo = open_repository(settings)
    path = write_audio(tmp_path / "voice.wav", speech())
    (media,) = import_paths(repo, [path], options=ImportOptions(vad=False)).added
    analyze_stored(repo, analyzer, media)
    chunk = repo.predictions(media.id, level="chunk")[2]
    repo.add_annotation(Annotation(None, media.id, "human", "ana", label="fear", start=chunk.start,
                                   duration=chunk.duration, corrects_prediction_id=chunk.id,
                                   model_version_id=chunk.model_version_id))  # fmt: skip
    before = [p.id for p in repo.predictions(media.id)]
    analyze_stored(repo, analyzer, media)
    after = [p.id for p in repo.predictions(media.id)]
    assert len(after) == len(before) and not set(after) & set(before)  # the new run is the current one
    assert repo.get_prediction(chunk.id) == chunk  # the corrected prediction is still there, unchanged
    (saved,) = repo.annotations(media.id)
    assert saved.corrects_prediction_id == chunk.id

    out = _run(["export", "--clips", str(tmp_path / "clips.csv"), "--annotations", str(tmp_path / "ann.csv"),
                "--annotator", "ana"], tmp_path / "data")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "1 clips" in out.stdout and "1 annotations" in out.stdout
    (row,) = _rows(tmp_path / "ann.csv")
    assert (row["label"], row["annotator"], row["source"]) == ("fear", "ana", "human")
    assert float(row["start"]) == chunk.start and row["corrects_prediction_id"] == str(chunk.id)
    (clip,) = _rows(tmp_path / "clips.csv")
    assert clip["media"] == str(path.resolve()) or clip["media"].endswith("voice.wav")


def test_inspect_figure_draws_the_stored_curves_and_corrections(tmp_path, repo, analyzer):
    from emostudio.domain import Annotation
    from emostudio.inspect import curves_figure, load_clip_view

    path = write_audio(tmp_path / "voice.wav", speech())
    (media,) = import_paths(repo, [path]).added
    result = analyze_stored(repo, analyzer, media)
    repo.add_annotation(Annotation(None, media.id, "human", "ana", label="anger", start=0.5, duration=0.5))
    view = load_clip_view(repo, media.id)
    assert len(view.chunks) == len(result.chunks) and view.speech and view.transcript
    fig = curves_figure(view)
    names = [trace.name for trace in fig.data]
    assert {"arousal", "valence", "dominance", *BASIC, "speech", "transcript"} <= set(names)
    arousal = next(trace for trace in fig.data if trace.name == "arousal")
    assert list(arousal.y) == pytest.approx([p.arousal for p in result.chunks])
    assert {s.x0 for s in fig.layout.shapes} == {0.5}  # the correction, drawn over every row
