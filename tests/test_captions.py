"""Emotion captions: the attribute-to-phrase tables, the voice measures, the self-reward
(a contradicting candidate never wins), captions stored and exported by analysis, the
transcript rules, and caption alignment moving the ranking toward people's edits."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from emostudio.core.config import get_settings
from emostudio.core.domain import CAPTION_JOB, Prediction, Segment
from emostudio.model.captions.attributes import (
    LEVEL_Z,
    Facts,
    Measured,
    Norms,
    measure_voice,
    place,
    speaker_baseline,
)
from emostudio.model.captions.captioner import (
    AudioProjection,
    Captioner,
    contradictions,
    load_captioner,
    save_captioner,
)
from emostudio.model.captions.compose import candidates
from emostudio.model.captions.describe import span_facts
from emostudio.model.captions.phrases import (
    EMOTION_WORDS,
    VOICE_ADJECTIVES,
    VOICE_ADVERBS,
    VOICE_ATTRIBUTES,
    claims_of,
    language_code,
    language_name,
    phrase_table,
    without_quotes,
)
from emostudio.model.network import default_model_path
from emostudio.services.analysis import Analyzer, analyze_stored
from emostudio.services.annotate import save_caption
from emostudio.services.export import export_table
from emostudio.services.ingest import ImportOptions, import_paths
from emostudio.services.versions import active_version, register_folder
from emostudio.testing import speech, temp_repository, tiny_language_model, tiny_model, tone, write_audio

BASIC = ("neutral", "happiness", "sadness", "anger", "fear", "disgust", "surprise")
UNIT = Norms(dict.fromkeys(VOICE_ATTRIBUTES, 0.0), dict.fromkeys(VOICE_ATTRIBUTES, 1.0))


# -- the phrase tables ----------------------------------------------------------------------


def test_every_phrase_reads_back_as_exactly_its_own_claim():
    """No phrase of one claim hides inside a phrase of another: a caption's claims are unambiguous."""
    for claim, phrases in phrase_table().items():
        for phrase in phrases:
            assert claims_of(f"The speaker talks {phrase}.") == {claim}, phrase


@pytest.mark.parametrize(
    ("attribute", "level", "phrase"),
    [
        ("rate", "high", "quickly"),
        ("rate", "low", "slowly"),
        ("loudness", "high", "loudly"),
        ("loudness", "low", "quietly"),
        ("pauses", "high", "with long pauses"),
        ("pitch", "high", "high-pitched"),
        ("pitch", "low", "low-pitched"),
        ("pitch_range", "low", "monotone"),
        ("pitch_range", "high", "lively"),
    ],
)
def test_the_attribute_to_phrase_table(attribute, level, phrase):
    table = VOICE_ADVERBS | VOICE_ADJECTIVES
    assert phrase in table[(attribute, level)]
    # no phrase says one attribute at two levels
    others = [p for (a, lv), ps in table.items() if a == attribute and lv != level for p in ps]
    assert phrase not in others


@pytest.mark.parametrize(
    ("z", "level"),
    [(-2.0, "low"), (-LEVEL_Z, "low"), (-0.5, "normal"), (0.0, "normal"), (LEVEL_Z, "high"), (3.0, "high")],
)
def test_a_measure_is_low_normal_or_high_against_its_reference(z, level):
    placed = place({"rate": 4.0 + 0.5 * z}, Norms({"rate": 4.0}, {"rate": 0.5}))
    assert placed["rate"].level == level and placed["rate"].z == pytest.approx(z)


def test_quoted_words_claim_nothing_and_languages_are_named():
    assert claims_of('Someone speaks quickly, saying "I am so angry and I shout loudly".') == {("rate", "high")}
    assert without_quotes('They sound sad, saying "go away".') == "They sound sad."
    assert language_name("de") == "German" and language_code("German") == "de"
    assert ("language", "de") in claims_of("The speaker talks in German slowly.")


# -- the voice measures -------------------------------------------------------------------


def _frames(seconds, f0=200.0, voiced=True, loud_db=-20.0, rate=4.0):
    n = int(seconds * 100)
    out = np.zeros((n, 4), np.float32)
    if voiced:
        out[:, 0], out[:, 1] = math.log(f0), 1.0
    out[:, 2], out[:, 3] = loud_db / 20.0, rate
    return out


def test_voice_measures_in_semitones_decibels_and_pause_share():
    frames = np.concatenate([_frames(1.0, 200.0), _frames(0.5, voiced=False), _frames(1.0, 400.0)])
    m = measure_voice(frames)
    assert m["pitch"] == pytest.approx(12 * math.log2(200.0), abs=12.1)  # median of a 200 / 400 Hz mix
    assert m["pitch_range"] > 3.0  # an octave apart
    assert m["loudness"] == pytest.approx(-20.0, abs=1e-4)
    assert m["pauses"] == pytest.approx(0.5 / 2.5, abs=0.01)
    short = measure_voice(_frames(0.2))
    assert short["pitch"] is None and short["rate"] is None and short["pauses"] is None  # too little to measure


def test_a_speakers_baseline_needs_enough_speech():
    population = Norms(dict.fromkeys(VOICE_ATTRIBUTES, 0.0), dict.fromkeys(VOICE_ATTRIBUTES, 1.0))
    assert speaker_baseline(_frames(4.0), population) is None
    rng = np.random.default_rng(0)
    long = np.concatenate(
        [_frames(2.0, 150 + 50 * rng.random()) if k % 3 else _frames(0.5, voiced=False) for k in range(20)]
    )
    baseline = speaker_baseline(long, population)
    assert baseline is not None and baseline.source == "speaker"


# -- candidates and the self-reward -----------------------------------------------------


def _facts(**overrides) -> Facts:
    voice = {
        "pitch": Measured(40.0, -1.5, "low", "population"),
        "pitch_range": Measured(1.0, -1.2, "low", "population"),
        "loudness": Measured(-35.0, -2.0, "low", "population"),
        "rate": Measured(2.0, -1.4, "low", "population"),
    }
    emotions = dict.fromkeys(BASIC, 0.02) | {"sadness": 0.8}
    return Facts(**{"start": 0.0, "duration": 3.0, "voice": voice, "emotions": emotions, "arousal": -0.5, **overrides})


def test_composed_candidates_only_claim_what_was_measured_and_vary():
    rng = random.Random(0)
    levels = ("low", "normal", "high")
    seen = set()
    for k in range(200):
        voice = {
            a: Measured(0.0, 0.0, rng.choice(levels), "population") for a in VOICE_ATTRIBUTES if rng.random() < 0.8
        }
        probs = np.random.default_rng(k).dirichlet(np.ones(len(BASIC)) * 0.5)
        facts = Facts(
            0.0,
            2.0,
            voice,
            dict(zip(BASIC, map(float, probs))),
            arousal=rng.uniform(-1, 1),
            face={"happiness": 0.9, "neutral": 0.1} if k % 3 == 0 else None,
            quote="we should go" if k % 2 else None,
            language="de" if k % 5 == 0 else None,
        )
        for text in candidates(facts, 8, seed=k):
            assert contradictions(text, facts) == [], text
            assert claims_of(text) <= facts.allowed()
            seen.add(text)
    assert len(seen) > 1000  # no two alike


def test_a_contradicting_candidate_never_wins_however_the_evidence_favours_it():
    facts = _facts()
    loud = "The speaker speaks loudly and quickly in a high-pitched voice; they sound sad."
    angry = "The speaker speaks quietly; they sound furious."
    invented = 'The speaker speaks quietly, saying "I never said that"; they sound sad.'
    assert contradictions(loud, facts) and contradictions(angry, facts) and contradictions(invented, facts)
    captioner = Captioner(None, UNIT)
    for bad in (loud, angry, invented):
        # the audio evidence is the bad sentence itself: the highest similarity there can be
        evidence = captioner.embed([bad])[0]
        ranked = captioner.score([bad, *candidates(facts, 8, seed=1)], facts, evidence)
        assert ranked and bad not in [s.text for s in ranked]
        assert captioner.caption(facts, evidence, seed=1).text != bad


def test_the_reward_prefers_the_classifiers_emotion_and_avoids_repeating_the_last_caption():
    facts = _facts()
    captioner = Captioner(None, UNIT)
    best = captioner.caption(facts, None, seed=3)
    assert {c for c in claims_of(best.text) if c[0] == "emotion"} <= {("emotion", "sadness")}
    assert any(w in best.text for w in EMOTION_WORDS["sadness"])
    again = captioner.caption(facts, None, seed=3, avoid=best.text)
    assert again.text != best.text


def test_a_transcript_the_text_branch_did_not_read_is_never_quoted_and_its_language_is_named():
    p = Prediction(None, "m", "v", "x", "clip", 0.0, 3.0, basic=dict.fromkeys(BASIC, 0.0) | {"neutral": 1.0})
    finnish = Segment(None, "m", "transcript", 0.2, 2.0, text="Hyvää huomenta", language="fi")
    facts = span_facts(p, _frames(3.0), UNIT, [finnish], read=[])
    assert facts.quote is None and facts.language == "fi"
    captioner = Captioner(None, UNIT)
    for seed in range(20):
        text = captioner.caption(facts, None, seed).text
        assert "Hyvää" not in text and "Finnish" in text
    read = span_facts(p, _frames(3.0), UNIT, [finnish], read=[finnish])
    assert read.quote == "Hyvää huomenta"
    english = Segment(None, "m", "transcript", 0.2, 2.0, text="hello there", language="en")
    assert span_facts(p, _frames(3.0), UNIT, [english], read=[english]).language is None


def test_the_shipped_captioner_loads_with_its_norms_and_projection():
    captioner = load_captioner(default_model_path(), ("whisper-tiny.en", "logmel", "prosody"))
    assert captioner.projection is not None and set(captioner.norms.mean) == set(VOICE_ATTRIBUTES)
    assert captioner.metrics["provenance"]["command"].startswith("python -m emostudio.trainers.caption_defaults")
    # a model reading other audio inputs gets no projection (the audio term is left out), never a wrong one
    assert load_captioner(default_model_path(), ("logmel",)).projection is None


# -- analysis stores them, export writes them ---------------------------------------------


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer.load()


def test_analysis_stores_captions_per_clip_and_segment_and_the_export_carries_them(tmp_path, analyzer):
    repo = temp_repository(tmp_path)
    path = write_audio(tmp_path / "talk.wav", np.concatenate([speech(2.5), np.zeros(16000, "f4"), speech(2.5)]))
    (media,) = import_paths(repo, [path]).added
    active_version(repo)
    result = analyze_stored(repo, analyzer, media)
    stored = repo.captions(media.id)
    assert len(stored) == 1 + len(result.segments) >= 3
    assert {c.model_version_id for c in stored} == {analyzer.model_version_id} and {c.source for c in stored} == {
        "model"
    }
    assert [c.start for c in stored[1:]] == [s.start for s in result.segments]
    for c in stored:
        assert c.text.endswith((".", '"')) and "None" not in c.text
    clips, segments = list(export_table(repo, "clips")[1]), list(export_table(repo, "segments")[1])
    assert clips[0]["caption"] == stored[0].text
    assert [r["caption"] for r in segments] == [c.text for c in stored[1:]]
    # a person's edit of a segment's caption becomes that segment's caption in the export, and the history keeps both
    edit = save_caption(
        repo, media, "ana", "Calm, and a little bored.", previous=stored[1], span=(stored[1].start, stored[1].duration)
    )
    segments = list(export_table(repo, "segments")[1])
    assert segments[0]["caption"] == "Calm, and a little bored."
    columns, captions = export_table(repo, "captions")
    assert "text" in columns and [r["caption_id"] for r in captions] == [c.id for c in stored] + [edit.id]
    assert captions[-1]["corrects_caption_id"] == stored[1].id and captions[-1]["media"] == "talk.wav"
    assert export_table(repo, "captions", source="human")[1] == [captions[-1]]


def test_an_unread_transcript_is_not_quoted_and_the_language_is_named(tmp_path, analyzer, monkeypatch):
    import emostudio.features.asr as asr

    class Finnish:  # Whisper recognises Finnish; the shipped sentence encoder was not trained on it
        def transcribe(self, audio, **_):
            piece = SimpleNamespace(
                text=" Hyvää huomenta.", start=0.0, end=2.0, no_speech_prob=0.1, avg_logprob=-0.2, compression_ratio=1.1
            )
            return [piece], SimpleNamespace(language="fi", language_probability=0.98)

    monkeypatch.setattr(asr, "asr_model", lambda: Finnish())
    repo = temp_repository(tmp_path)
    (media,) = import_paths(
        repo, [write_audio(tmp_path / "fi.wav", speech(3.0))], options=ImportOptions(vad=False)
    ).added
    active_version(repo)
    analyze_stored(repo, analyzer, media)
    for caption in repo.captions(media.id):
        assert "Hyvää" not in caption.text and "huomenta" not in caption.text
        assert "Finnish" in caption.text


# -- caption alignment ----------------------------------------------------------------------

EDITS = (
    "A voice heavy with resignation, as if after a long argument.",
    "Bright and bubbly, this person is clearly thrilled about the news.",
    "The talker is seething, every word pushed out through clenched teeth.",
    "A trembling, breathless voice, like someone hiding from danger.",
    "Bored out of their mind, reading a list without any interest.",
)


@pytest.fixture
def caption_studio(tmp_path, monkeypatch):
    """A studio with the tiny debug model (and a captioner for its inputs) and five media,
    each with a person's edited caption."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("EMOSTUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("EMOSTUDIO_DEVICE", "cpu")
    get_settings.cache_clear()
    import emostudio.trainers.jobs  # noqa: F401 - registers the job kinds

    folder = tiny_model(tmp_path / "tiny")
    shipped = load_captioner(default_model_path())
    save_captioner(Captioner(AudioProjection(384), shipped.norms, extractors=("logmel",)), folder)
    repo = temp_repository(data)
    parent = register_folder(repo, folder, active=True)
    media = []
    for k, text in enumerate(EDITS):
        signal = speech(3.0) * (0.3 + 0.15 * k) + tone(3.0, 120.0 + 90 * k) * 0.3
        (m,) = import_paths(
            repo, [write_audio(tmp_path / f"clip{k}.wav", signal)], options=ImportOptions(vad=False)
        ).added
        save_caption(repo, m, "ana", text)
        media.append(m)
    yield repo, parent, media
    get_settings.cache_clear()


def test_caption_alignment_moves_the_ranking_toward_the_edited_captions(caption_studio):
    from emostudio.model.network import load_model
    from emostudio.trainers.captions import span_input
    from emostudio.trainers.finetune import MediaReader
    from emostudio.trainers.worker import run_once

    repo, parent, media = caption_studio
    assert all(claims_of(t) == set() for t in EDITS)  # the edits claim nothing the facts could refuse
    job = repo.enqueue_job(CAPTION_JOB, {"epochs": 200})
    done = run_once(repo)
    assert done.id == job.id and done.status == "succeeded", done.log
    version = repo.get_model_version(done.model_version_id)
    assert version.parent_id == parent.id and "registered" in done.log
    trained = version.metrics["captions"]["train"]
    assert trained["model"]["mean_rank"] < trained["parent"]["mean_rank"]
    assert trained["model"]["recall_at_1"] == 1.0
    held = set(version.metrics["captions"]["heldout"]["groups"])
    assert held and len(held) < len(media)
    assert set(done.used_media_ids) == {m.id for m in media}

    before = load_captioner(parent.path, ("logmel",))
    after = load_captioner(version.path, ("logmel",))
    reader = MediaReader(repo, load_model(parent.path).config)
    facts = Facts(0.0, 3.0, {}, dict.fromkeys(BASIC, 1 / 7))
    moved = 0
    for m, text in zip(media, EDITS):
        if f"media:{m.id}" in held:
            continue
        audio, chunks, _ = reader.read(m)
        x = span_input(audio, chunks, None, None)[None]
        rank = {}
        for name, captioner in (("before", before), ("after", after)):
            ranked = [s.text for s in captioner.score(list(EDITS), facts, captioner.projection.project(x)[0])]
            rank[name] = ranked.index(text)
        # the reward ranks the person's own caption of this media higher than before (first, or next to it)
        assert rank["after"] < rank["before"] or rank["after"] == 0
        assert rank["after"] <= 1
        moved += rank["after"] < rank["before"]
    assert moved >= 1


def test_caption_alignment_needs_edited_captions(tmp_path, monkeypatch):
    from emostudio.trainers.worker import run_once

    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("EMOSTUDIO_DATA_DIR", str(data))
    get_settings.cache_clear()
    import emostudio.trainers.jobs  # noqa: F401

    repo = temp_repository(data)
    active_version(repo)
    repo.enqueue_job(CAPTION_JOB, {})
    done = run_once(repo)
    assert done.status == "failed" and "at least two different edited captions" in done.error
    get_settings.cache_clear()


def _tidy(text: str) -> str:
    return re.sub(r"\s+([,.!?])", r"\1", " ".join(text.split())).lower()


def test_the_generative_mode_learns_the_edited_captions_and_its_sentence_is_only_a_candidate(
    caption_studio, tmp_path, monkeypatch
):
    """A local language model (here a tiny random GPT-2) prefix-conditioned on the audio:
    the caption job trains the prefix on the edits; its sentence for a media it learned
    from is that media's edit, and it joins the candidates, where the constraints hold."""
    from emostudio.model.captions.generative import PREFIX_FILE
    from emostudio.model.network import load_model
    from emostudio.trainers.captions import span_input
    from emostudio.trainers.finetune import MediaReader
    from emostudio.trainers.worker import run_once

    repo, parent, media = caption_studio
    lm = tiny_language_model(tmp_path / "lm", list(EDITS))
    monkeypatch.setenv("EMOSTUDIO_CAPTION_LM", str(lm))
    get_settings.cache_clear()
    repo.enqueue_job(CAPTION_JOB, {"epochs": 300})
    done = run_once(repo)
    assert done.status == "succeeded", done.log
    version = repo.get_model_version(done.model_version_id)
    assert (Path(version.path) / PREFIX_FILE).is_file()
    assert version.metrics["captions"]["generator"]["language_model"] == "lm"
    captioner = load_captioner(version.path, ("logmel",), lm)
    assert captioner.generator is not None
    held = set(version.metrics["captions"]["heldout"]["groups"])
    reader = MediaReader(repo, load_model(parent.path).config)
    learned = [(m, t) for m, t in zip(media, EDITS) if f"media:{m.id}" not in held]
    for m, text in learned:
        audio, chunks, _ = reader.read(m)
        projected = captioner.projection.project(span_input(audio, chunks, None, None)[None])[0]
        generated = captioner.generator.generate(projected)
        assert _tidy(generated) == _tidy(text)
        # one more candidate, under the same rules: it is scored, and a contradiction would drop it
        assert generated in captioner.candidates(Facts(0.0, 3.0, {}, dict.fromkeys(BASIC, 1 / 7)), projected, seed=0)


def test_every_emotion_word_reads_back_as_its_own_emotion():
    """The read-back (nearest class prompt in the sentence space) of "The speaker sounds
    <word>." is the word's class, so a caption's emotion is the one the model predicted."""
    captioner = Captioner(None, UNIT)
    for label, words in EMOTION_WORDS.items():
        e = captioner.embed([f"The speaker sounds {w}." for w in words])
        read = (e @ captioner.prompts.T).argmax(1)
        assert [captioner.classes[i] for i in read] == [label] * len(words), label


def test_distinct_2_and_fresh_phrasing():
    from emostudio.model.captions.captioner import RecentPhrasing, distinct_2

    assert distinct_2(["a b c", "a b c"]) == pytest.approx(0.5)
    assert distinct_2(["a b c", "c d e"]) == 1.0
    recent = RecentPhrasing(size=2)
    recent.add("the speaker sounds sad")
    assert recent.novelty("the speaker sounds sad") == 0.0
    assert recent.novelty("someone seems glad") == 1.0
    recent.add("x y")
    recent.add("z w")  # the first caption has left the window
    assert recent.novelty("the speaker sounds sad") == 1.0


def test_the_embedding_cache_returns_every_text_even_past_its_size():
    from emostudio.model.captions.captioner import EmbeddingCache

    cache = EmbeddingCache(size=4)
    texts = [f"The speaker sounds sad {k}." for k in range(6)]
    out = cache(texts)
    assert out.shape == (6, 384) and len(cache.store) == 4
    assert np.allclose(cache(texts[-2:]), out[-2:], atol=1e-6)
