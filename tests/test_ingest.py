"""Importing generated media with labels, transcripts and every kind of bad input."""

from pathlib import Path

import numpy as np
import pytest

from emostudio.services.ingest import ImportOptions, import_paths
from emostudio.testing import speech, tone, write_audio, write_av


def _folder_of_media(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_audio(root / "talk.wav", speech())
    write_audio(root / "talk.flac", np.concatenate([speech(), speech()]))
    write_audio(root / "talk.mp3", speech(3.0))
    write_av(root / "face.mp4", video_seconds=3.0, audio=speech(3.0))
    write_av(root / "face_silent.mp4", video_seconds=2.0, audio=None)
    return root


def test_import_folder_probes_media_and_finds_speech(repo, tmp_path):
    folder = _folder_of_media(tmp_path / "in")
    report = import_paths(repo, [folder])
    assert report.errors == []
    assert len(report.added) == 5
    by_name = {s.media.name: s for s in repo.list_media()}
    assert by_name["face.mp4"].media.info.modality == "audio+video"
    assert by_name["face_silent.mp4"].media.info.modality == "video"
    assert by_name["face_silent.mp4"].segments == 0
    for name in ("talk.wav", "talk.flac", "talk.mp3", "face.mp4"):
        assert by_name[name].segments >= 1, name
    speech_spans = repo.segments(by_name["talk.wav"].media.id, "speech")
    assert speech_spans[0].start < 0.5 and speech_spans[-1].end > 3.0
    assert all(s.source.startswith("silero-vad") for s in speech_spans)


def test_reimport_adds_nothing(repo, tmp_path):
    folder = _folder_of_media(tmp_path / "in")
    labels = tmp_path / "labels.csv"
    labels.write_text("path,emotion\nin/talk.wav,angry\nin/face.mp4,happy\n")
    first = import_paths(repo, [folder], labels=labels)
    counts = (len(repo.list_media()), len(repo.annotations()), sum(s.segments for s in repo.list_media()))
    second = import_paths(repo, [folder], labels=labels)
    assert (len(first.added), first.labels_added) == (5, 2)
    assert (len(second.added), second.labels_added, second.segments_added) == (0, 0, 0)
    assert len(second.known) == 5
    assert (len(repo.list_media()), len(repo.annotations()), sum(s.segments for s in repo.list_media())) == counts


def test_byte_identical_files_are_one_media_with_an_alias(repo, tmp_path):
    a = write_audio(tmp_path / "a.wav", speech())
    b = tmp_path / "copy_of_a.wav"
    b.write_bytes(a.read_bytes())
    report = import_paths(repo, [a, b])
    assert len(report.added) == 1 and len(repo.list_media()) == 1
    assert [(path, m.id) for path, m in report.aliases] == [(str(b.resolve()), report.added[0].id)]


def test_uploads_are_copied_into_the_store(repo, tmp_path):
    src = write_audio(tmp_path / "upload.wav", speech())
    store = tmp_path / "store"
    report = import_paths(repo, [src], options=ImportOptions(copy=True, media_dir=store))
    media = report.added[0]
    assert media.stored and Path(media.path).is_file() and Path(media.path).is_relative_to(store)
    src.unlink()  # the original can go: the store has the bytes
    assert repo.get_media(media.id).path == media.path and Path(media.path).read_bytes()


def test_audio_without_speech_has_no_segments_and_no_error(repo, tmp_path):
    report = import_paths(repo, [write_audio(tmp_path / "hum.wav", tone(3.0) * 0.01)])
    assert report.errors == [] and len(report.added) == 1
    assert repo.segments(report.added[0].id) == []


@pytest.mark.parametrize(
    "suffix,content,spans",
    [
        (
            ".srt",
            "1\n00:00:00,200 --> 00:00:01,500\nThe dogs are\n\n"
            "2\n00:00:01,600 --> 00:00:03,000\nsitting by the <i>door</i>\n",
            [(0.2, 1.3, "The dogs are"), (1.6, 1.4, "sitting by the door")],
        ),
        (
            ".vtt",
            "WEBVTT\n\n00:00.200 --> 00:01.500\nThe dogs are\n\n00:01.600 --> 00:03.000\nsitting by the door\n",
            [(0.2, 1.3, "The dogs are"), (1.6, 1.4, "sitting by the door")],
        ),
        (".txt", "The dogs are\nsitting by the door.\n", [(0.0, None, "The dogs are sitting by the door.")]),
    ],
)
def test_sidecar_transcripts_become_text_segments(repo, tmp_path, suffix, content, spans):
    media_path = write_audio(tmp_path / "clip.wav", speech())
    media_path.with_suffix(suffix).write_text(content, encoding="utf-8")
    report = import_paths(repo, [media_path])
    assert report.errors == []
    got = repo.segments(report.added[0].id, "transcript")
    duration = report.added[0].duration
    assert [(round(s.start, 3), round(s.duration, 3), s.text) for s in got] == [
        (start, round(duration if d is None else d, 3), text) for start, d, text in spans
    ]
    import_paths(repo, [media_path])
    assert len(repo.segments(report.added[0].id, "transcript")) == len(spans)


def test_csv_labels_with_dimensions_and_speaker(repo, tmp_path):
    write_audio(tmp_path / "a.wav", speech())
    write_audio(tmp_path / "b.wav", speech(2.0))
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,emotion,arousal,valence,dominance,speaker\n"
        "a.wav,Boredom,-0.6,-0.3,-0.2,spk1\nb.wav,happily surprised,,,,spk2\n"
    )
    report = import_paths(repo, [], labels=labels)  # the label file names the media to import
    assert report.errors == [] and len(report.added) == 2 and report.labels_added == 2
    by_name = {s.media.name: s.media for s in repo.list_media()}
    a = repo.annotations(by_name["a.wav"].id)[0]
    assert (a.label, a.raw_label, a.arousal, a.valence, a.dominance) == ("neutral", "Boredom", -0.6, -0.3, -0.2)
    assert (a.source, a.annotator, a.origin) == ("import", "import:labels.csv", "labels.csv:2")
    assert by_name["a.wav"].speaker == "spk1"
    assert repo.annotations(by_name["b.wav"].id)[0].label == "happily surprised"


def test_kaldi_scp_labels(repo, tmp_path):
    write_audio(tmp_path / "a.wav", speech())
    write_av(tmp_path / "v.mp4", audio=speech(2.0))
    scp = tmp_path / "train.scp"
    scp.write_text(f"# utt path label\nutt1 {tmp_path / 'a.wav'} ang\nutt2 v.mp4 sad\n")
    report = import_paths(repo, [], labels=scp)
    assert report.errors == []
    assert sorted(a.label for a in repo.annotations()) == ["anger", "sadness"]
    assert {a.origin for a in repo.annotations()} == {"train.scp:2", "train.scp:3"}


def test_bad_inputs_get_one_line_errors_and_the_batch_goes_on(repo, tmp_path):
    d = tmp_path / "batch"
    d.mkdir()
    (d / "empty.wav").write_bytes(b"")
    (d / "text.wav").write_text("not audio at all\n" * 50)
    cut = write_av(d / "cut.mp4", video_seconds=2.0, audio=speech(2.0))
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    write_av(d / "no_audio.mp4", video_seconds=2.0, audio=None)
    write_audio(d / "silence.wav", np.zeros(32000, np.float32))
    write_audio(d / "good.wav", speech())
    sub = write_audio(d / "latin.wav", speech(2.0)).with_suffix(".srt")
    sub.write_bytes("1\n00:00:00,000 --> 00:00:01,000\nCaf\xe9 ol\xe9\n".encode("latin-1"))
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,emotion\nbatch/good.wav,happy\nbatch/silence.wav,happyy\n"
        "batch/missing.wav,sad\nbatch/no_audio.mp4,angry\n"
    )

    report = import_paths(repo, [d], labels=labels)

    errors = "\n".join(report.errors)
    assert all("\n" not in e for e in report.errors)
    assert "empty.wav: empty file (0 bytes)" in errors
    assert "text.wav: not a readable media file" in errors
    assert "cut.mp4: truncated" in errors
    assert "labels.csv:3: unknown label 'happyy'" in errors
    assert "labels.csv:4: file not found" in errors and "missing.wav" in errors
    assert "latin.srt: not utf-8 text (byte 0xe9" in errors and "media imported without it" in errors
    assert len(report.errors) == 6
    names = {s.media.name: s for s in repo.list_media()}
    assert set(names) == {"no_audio.mp4", "silence.wav", "good.wav", "latin.wav"}
    assert names["no_audio.mp4"].media.info.modality == "video" and names["no_audio.mp4"].labels == 1
    assert names["silence.wav"].segments == 0 and names["silence.wav"].labels == 0
    assert names["good.wav"].labels == 1 and names["good.wav"].segments >= 1


def test_non_utf8_transcript_with_explicit_encoding(repo, tmp_path):
    media = write_audio(tmp_path / "latin.wav", speech(2.0))
    media.with_suffix(".srt").write_bytes("1\n00:00:00,000 --> 00:00:01,000\nCaf\xe9\n".encode("latin-1"))
    report = import_paths(repo, [media], options=ImportOptions(transcript_encoding="latin-1"))
    assert report.errors == []
    assert repo.segments(report.added[0].id, "transcript")[0].text == "Caf\xe9"


def test_label_file_that_cannot_be_read_is_reported(repo, tmp_path):
    good = write_audio(tmp_path / "good.wav", speech())
    report = import_paths(repo, [good], labels=tmp_path / "nope.csv")
    assert report.errors == [f"{tmp_path / 'nope.csv'}: label file not found"]
    assert len(report.added) == 1


def test_unsupported_and_missing_paths(repo, tmp_path):
    (tmp_path / "notes.docx").write_text("x")
    report = import_paths(repo, [tmp_path / "notes.docx", tmp_path / "gone.wav"])
    assert report.errors == [
        f"{tmp_path / 'notes.docx'}: unsupported file type '.docx'",
        f"{tmp_path / 'gone.wav'}: file not found",
    ]


def test_vad_in_blocks_joins_speech_across_block_boundaries(repo, tmp_path, monkeypatch):
    import emostudio.media.vad as vad

    monkeypatch.setattr(vad, "VAD_BLOCK_SECONDS", 1.0)  # the fixture's speech runs through 3 boundaries
    blocked = import_paths(repo, [write_audio(tmp_path / "a.wav", speech())]).added[0]
    spans = repo.segments(blocked.id, "speech")
    monkeypatch.setattr(vad, "VAD_BLOCK_SECONDS", 600.0)
    whole = import_paths(repo, [write_audio(tmp_path / "b.wav", speech() * 0.99)]).added[0]
    reference = repo.segments(whole.id, "speech")
    assert len(spans) <= len(reference) + 1
    assert spans[0].start == pytest.approx(reference[0].start, abs=0.1)
    assert spans[-1].end == pytest.approx(reference[-1].end, abs=0.15)


def test_label_file_that_is_not_utf8_is_reported_without_transcript_advice(repo, tmp_path):
    good = write_audio(tmp_path / "good.wav", speech())
    labels = tmp_path / "labels.csv"
    labels.write_bytes("path,emotion\ngood.wav,col\xe8re\n".encode("latin-1"))
    report = import_paths(repo, [good], labels=labels)
    assert report.errors == [f"{labels}: not UTF-8 text (byte 0xe8 at offset 25); re-save it as UTF-8"]
    assert len(report.added) == 1
