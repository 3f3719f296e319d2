"""Each extractor on generated media: frame grid, values a user would rely on, cache."""

from __future__ import annotations

import numpy as np
import pytest

from emostudio.core.domain import Segment
from emostudio.core.timegrid import FrameRate
from emostudio.features import FeatureCache, FeatureInput, get_extractor
from emostudio.services.analysis import media_for_path
from emostudio.testing import face_picture, speech, tone, write_audio, write_av


@pytest.fixture(scope="module")
def speech_media(tmp_path_factory):
    return media_for_path(write_audio(tmp_path_factory.mktemp("a") / "speech.wav", speech()))


@pytest.mark.parametrize("name, rate, dim", [("logmel", 100, 64), ("prosody", 100, 4), ("whisper-tiny.en", 50, 384)])
def test_audio_extractors_cover_the_media_on_their_frame_grid(speech_media, name, rate, dim):
    feats = get_extractor(name).features(FeatureInput(speech_media))
    assert feats.values.shape == (FrameRate(rate).count(speech_media.duration), dim)
    assert np.isfinite(feats.values).all()
    assert feats.values.std(axis=0).max() > 0  # speech varies over time


def test_prosody_finds_the_pitch_of_a_voice(tmp_path):
    media = media_for_path(write_audio(tmp_path / "tone.wav", tone(2.0, freq=220.0)))
    frames = get_extractor("prosody").extract(FeatureInput(media))
    voiced = frames[:, 1] > 0
    assert voiced.mean() > 0.9
    assert np.exp(np.median(frames[voiced, 0])) == pytest.approx(220.0, rel=0.03)


def test_whisper_blocks_long_media_without_seams(tmp_path):
    """A 25 s file goes through centred 8 s blocks; the frame count and values stay continuous."""
    long = np.concatenate([speech()] * 8)[: 25 * 16000]
    media = media_for_path(write_audio(tmp_path / "long.wav", long))
    feats = get_extractor("whisper-tiny.en").extract(FeatureInput(media))
    assert feats.shape == (FrameRate(50).count(media.duration), 384)
    step = np.linalg.norm(np.diff(feats, axis=0), axis=1)
    at_seams = step[[399, 799]]  # frames 400 and 800 start new blocks
    assert at_seams.max() < np.percentile(step, 99) * 1.5


def test_opensmile_lld_when_installed(speech_media):
    pytest.importorskip("opensmile")
    frames = get_extractor("opensmile-egemaps").extract(FeatureInput(speech_media))
    assert frames.shape == (FrameRate(100).count(speech_media.duration), 25)


def test_hugging_face_encoder_from_a_local_folder(tmp_path, speech_media):
    transformers = pytest.importorskip("transformers")
    config = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16, 16, 16, 16, 16, 16),
        num_feat_extract_layers=7,
    )
    folder = tmp_path / "tiny-wav2vec2"
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(folder)
    extractor = get_extractor(f"hf:{folder}")
    assert (extractor.frame_rate, extractor.dim) == (50.0, 32)
    frames = extractor.features(FeatureInput(speech_media)).values
    assert frames.shape == (FrameRate(50).count(speech_media.duration), 32)
    # new weights under the same config.json are a new extractor version: the cache is not reused
    import torch

    torch.manual_seed(1)
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    retrained = get_extractor(f"hf:{folder}")
    assert (folder / "config.json").read_text() and retrained.version != extractor.version


def test_the_cache_key_follows_what_an_extractor_computes(tmp_path, speech_media):
    """No hand-bumped version: the feature cache path changes with an extractor's settings
    and weights, and stays the same when nothing changed."""
    from emostudio.features import FeatureCache
    from emostudio.features.face import FaceExpression

    cache = FeatureCache(tmp_path)
    inputs = FeatureInput(speech_media)
    assert cache.path(get_extractor("logmel"), inputs) == cache.path(get_extractor("logmel"), inputs)
    assert FaceExpression(fps=2.0).version != FaceExpression(fps=4.0).version
    assert get_extractor("logmel").version != get_extractor("prosody").version


def test_hugging_face_encoder_names_a_bad_folder(tmp_path):
    from emostudio.features import ExtractorUnavailable

    with pytest.raises(ExtractorUnavailable, match="no config.json"):
        get_extractor(f"hf:{tmp_path}")


def test_face_extractor_tracks_a_real_face_and_reads_its_expression(tmp_path):
    path = write_av(tmp_path / "face.mp4", video_seconds=2.0, size=(256, 256), picture=face_picture())
    frames = get_extractor("face-fer2013", fps=4).extract(FeatureInput(media_for_path(path)))
    assert frames.shape == (8, 8)
    assert frames[:, 7].mean() > 0.8  # a face in (almost) every sampled frame
    found = frames[frames[:, 7] > 0]
    assert np.allclose(found[:, :7].sum(1), 1.0, atol=1e-4)
    assert found[:, 1].mean() > 0.5  # the astronaut smiles: happiness


def test_face_extractor_reports_no_face_in_a_video_without_one(tmp_path):
    path = write_av(tmp_path / "gradient.mp4", video_seconds=1.0)
    frames = get_extractor("face-fer2013", fps=4).extract(FeatureInput(media_for_path(path)))
    assert (frames == 0).all()


@pytest.mark.parametrize("name", ["text-minilm", "text-use-m3"])
def test_text_embeddings_follow_the_transcript_in_time(speech_media, name):
    spans = (
        Segment(None, speech_media.id, "transcript", 0.0, 0.75, text="I am so happy today!"),
        Segment(None, speech_media.id, "transcript", 1.0, 0.5, text="This is terrible and I hate it."),
    )
    frames = get_extractor(name).extract(FeatureInput(speech_media, transcript=spans))
    assert frames[:3, -1].tolist() == [1, 1, 1] and frames[3, -1] == 0 and frames[4:6, -1].tolist() == [1, 1]
    assert np.allclose(frames[0], frames[2]) and not np.allclose(frames[0, :-1], frames[4, :-1])
    assert np.linalg.norm(frames[0, :-1]) == pytest.approx(1.0, abs=1e-4)


def test_the_multilingual_encoder_puts_a_sentence_and_its_translation_together():
    """What lets a text head trained on English MELD read a German or Mandarin transcript."""
    from emostudio.features.text import embed_multilingual

    angry_en, angry_de, angry_zh, happy_en = embed_multilingual(
        ["I am furious, get out of here!", "Ich bin wütend, raus hier!", "我很生气，滚出去！", "I am so happy today!"]
    )
    assert angry_en @ angry_de > angry_en @ happy_en + 0.3
    assert angry_en @ angry_zh > angry_en @ happy_en + 0.2


def test_cache_reuses_features_by_content_and_records_them(tmp_path, repo, speech_media):
    class Counting(type(get_extractor("logmel"))):
        calls = 0

        def extract(self, inputs):
            Counting.calls += 1
            return super().extract(inputs)

    cache = FeatureCache(tmp_path / "cache", repo)
    repo.add_media(speech_media)
    first = cache.get(Counting(), FeatureInput(speech_media))
    again = cache.get(Counting(), FeatureInput(speech_media))
    assert Counting.calls == 1 and np.array_equal(first.values, again.values)
    assert [(e, v) for e, v, _ in repo.cached_features(speech_media.id)] == [("logmel", Counting().version)]


def test_text_cache_key_changes_with_the_transcript(tmp_path, speech_media):
    cache, text = FeatureCache(tmp_path), get_extractor("text-minilm")
    a = (Segment(None, speech_media.id, "transcript", 0.0, 1.0, text="hello"),)
    b = (Segment(None, speech_media.id, "transcript", 0.0, 1.0, text="goodbye"),)
    assert cache.path(text, FeatureInput(speech_media, transcript=a)) != cache.path(
        text, FeatureInput(speech_media, transcript=b)
    )


def test_an_extractor_has_the_same_version_in_every_process():
    """The server reads what the worker cached: both must name a feature the same way."""
    import os
    import subprocess
    import sys

    probe = "from emostudio.features import get_extractor; print(get_extractor('waveform-peaks').version)"
    seen = {
        subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (1, 2, 3)
    }
    assert seen == {get_extractor("waveform-peaks").version}


SHORT = (0.2, 0.3, 0.5, 0.99, 1.0)


@pytest.mark.parametrize("seconds", SHORT)
@pytest.mark.parametrize("name", ["logmel", "prosody", "whisper-tiny.en", "waveform-peaks", "opensmile-egemaps"])
def test_every_audio_extractor_covers_a_short_clip(tmp_path, name, seconds):
    extractor = get_extractor(name)
    media = media_for_path(write_audio(tmp_path / "word.wav", speech(seconds)))
    frames = extractor.extract(FeatureInput(media))
    assert frames.shape == (FrameRate(extractor.frame_rate).count(media.duration), extractor.dim)
    assert np.isfinite(frames).all()


@pytest.mark.parametrize("seconds", SHORT)
def test_a_short_talking_face_clip_gets_a_prediction(tmp_path, seconds):
    from emostudio.services.analysis import Analyzer

    path = write_av(
        tmp_path / "word.mp4", video_seconds=seconds, size=(256, 256), picture=face_picture(), audio=speech(seconds)
    )
    result = Analyzer.load(asr=False).analyze(media_for_path(path))
    assert len(result.chunks) >= 1 and abs(sum(result.clip.basic.values()) - 1) < 1e-4
    assert {"audio", "face"} <= set(result.modalities)  # a face in the first frame is seen
