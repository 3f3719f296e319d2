"""The chunk model: persistence, learning, missing modalities, compound scores, pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emostudio.core.labels import BASIC, COMPOUND, avd_prototype
from emostudio.core.timegrid import CHUNKS, FrameRate
from emostudio.features.base import Features
from emostudio.model.chunk_inputs import build_chunk_inputs, pool_mean_std
from emostudio.model.network import (
    ChunkEmotionModel,
    ChunkModelConfig,
    ModelInputs,
    compound_scores,
    load_model,
    save_model,
)
from emostudio.trainers.supervised import TrainConfig, TrainItem, collate, train_audio

N = len(BASIC)


def tiny_model(seed=0) -> ChunkEmotionModel:
    torch.manual_seed(seed)
    return ChunkEmotionModel(ChunkModelConfig(audio_dim=12, hidden=16, audio_extractors=("logmel",))).eval()


def face_inputs(t: int, present: bool = True) -> torch.Tensor:
    probs = torch.softmax(torch.randn(1, t, 3, N), -1)
    flag = torch.full((1, t, 3, 1), 1.0 if present else 0.0)
    return torch.cat([probs * flag, flag], -1).reshape(1, t, 3 * (N + 1))


def text_inputs(t: int, batch: int = 1) -> torch.Tensor:
    """A sentence embedding per chunk and, last, the share of the window the transcript covers."""
    return torch.cat([torch.randn(batch, t, ChunkModelConfig.text_dim), torch.ones(batch, t, 1)], -1)


def test_save_and_load_round_trip_gives_identical_outputs(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        model.fusion_logits.copy_(torch.tensor([0.5, -0.2, 0.1]))
    inputs = ModelInputs.of(
        audio=torch.randn(2, 6, 12), face=face_inputs(6).repeat(2, 1, 1), text=text_inputs(6, batch=2)
    )
    folder = save_model(model, tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_model(folder)
    a, b = model(inputs), loaded(inputs)
    assert torch.equal(a.chunk_log_probs, b.chunk_log_probs) and torch.equal(a.clip_avd, b.clip_avd)
    assert loaded.config == model.config


def test_load_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_model(tmp_path)


def test_one_training_step_changes_the_output():
    model = tiny_model()
    items = [
        TrainItem(np.random.default_rng(i).normal(size=(5, 12)).astype(np.float32), i % N, (0.5, 0.5, 0.0))
        for i in range(8)
    ]
    inputs, *_ = collate(items)
    before = model(inputs).clip_log_probs.detach().clone()
    trained = train_audio(model.config, items, TrainConfig(epochs=1, batch_size=8), model=model)
    assert not torch.allclose(before, trained(inputs).clip_log_probs)


def test_clip_labels_teach_the_chunks_that_carry_the_emotion():
    """Multiple-instance pooling: 'anger' clips are silent (feature 0) except two loud chunks.

    After training on clip labels only, the loud chunks get the pooling weight and
    the anger probability; the quiet chunks of the same clip do not."""
    rng = np.random.default_rng(0)
    items = []
    for i in range(64):
        x = rng.normal(0, 0.1, size=(10, 12)).astype(np.float32)
        label = BASIC.index("anger") if i % 2 else BASIC.index("neutral")
        if label == BASIC.index("anger"):
            where = rng.choice(10, 2, replace=False)
            x[where, 0] += 3.0
        items.append(TrainItem(x, label, (0.0, 0.0, 0.0)))
    model = train_audio(
        ChunkModelConfig(audio_dim=12, hidden=16, dropout=0.0, input_dropout=0.0),
        items,
        TrainConfig(epochs=40, batch_size=16, lr=5e-3),
    )
    x = rng.normal(0, 0.1, size=(10, 12)).astype(np.float32)
    x[[2, 7], 0] += 3.0
    out = model(ModelInputs.of(audio=torch.from_numpy(x)[None]))
    anger = out.chunk_log_probs[0, :, BASIC.index("anger")].exp()
    weights = out.chunk_weights[0]
    assert out.clip_log_probs[0].argmax() == BASIC.index("anger")
    loud, quiet = [2, 7], [0, 4, 9]
    assert weights[loud].min() > weights[quiet].max()
    assert anger[loud].min() > anger[quiet].max()


@pytest.mark.parametrize(
    "present",
    [
        ("audio",),
        ("face",),
        ("text",),
        ("audio", "face"),
        ("audio", "text"),
        ("face", "text"),
        ("audio", "face", "text"),
    ],
)
def test_missing_modalities_drop_out_of_the_fusion(present):
    model, t = tiny_model(), 5
    inputs = ModelInputs.of(
        audio=torch.randn(1, t, 12) if "audio" in present else None,
        face=face_inputs(t) if "face" in present else None,
        text=text_inputs(t) if "text" in present else None,
    )
    out = model(inputs)
    assert torch.allclose(out.chunk_log_probs.exp().sum(-1), torch.ones(1, t), atol=1e-5)
    assert torch.allclose(out.clip_log_probs.exp().sum(-1), torch.ones(1), atol=1e-5)
    assert set(out.modality_chunk_logits) == set(present)
    for i, m in enumerate(("audio", "face", "text")):
        assert (out.modality_weights[..., i] > 0).all() == (m in present)
    assert torch.allclose(out.modality_weights.sum(-1), torch.ones(1, t))
    assert out.chunk_avd.shape == (1, t, 3) and out.chunk_avd.abs().max() <= 1


def test_a_chunk_without_a_face_uses_the_other_modalities():
    model, t = tiny_model(), 4
    face = face_inputs(t)
    mask = torch.tensor([[True, False, True, False]])
    out = model(ModelInputs.of(audio=torch.randn(1, t, 12), face=face, face_mask=mask))
    assert (out.modality_weights[0, ~mask[0], 1] == 0).all()
    assert (out.modality_weights[0, mask[0], 1] > 0).all()


def test_face_only_clip_follows_the_face_probabilities():
    """Label matching: with only a face, the fused prediction is the FER distribution."""
    model, t = tiny_model(), 3
    probs = torch.full((N,), 0.02)
    probs[BASIC.index("surprise")] = 1 - 0.02 * (N - 1)
    face = torch.cat([probs, torch.ones(1)]).repeat(3).reshape(1, 1, -1).repeat(1, t, 1)
    out = model(ModelInputs.of(face=face))
    assert torch.allclose(out.clip_log_probs.exp()[0], probs, atol=1e-4)


def sure_face(emotion: str, t: int, share_with_face: float = 1.0, p: float = 0.96) -> torch.Tensor:
    """FER inputs that give ``emotion`` probability ``p``, a face in ``share_with_face`` of each window."""
    probs = torch.full((N,), (1 - p) / (N - 1))
    probs[BASIC.index(emotion)] = p
    return (
        torch.cat([probs * share_with_face, torch.tensor([share_with_face])])
        .repeat(3)
        .reshape(1, 1, -1)
        .repeat(1, t, 1)
    )


def sure_audio_model(emotion: str, fusion: str = "linear", shares=(0.5, 0.29, 0.21)) -> ChunkEmotionModel:
    """A model whose audio branch is all but certain of ``emotion`` (every other class < 1e-6)."""
    torch.manual_seed(0)
    config = ChunkModelConfig(audio_dim=12, hidden=16, audio_extractors=("logmel",), fusion=fusion)
    model = ChunkEmotionModel(config).eval()
    with torch.no_grad():
        model.audio_head.weight.zero_()
        model.audio_head.bias.fill_(-10.0)
        model.audio_head.bias[BASIC.index(emotion)] = 10.0
        model.fusion_logits.copy_(torch.log(torch.tensor(shares)))
    return model


def test_one_modality_cannot_veto_another():
    """The issue's case: the face says happiness at 0.96 with a 29% share while the audio
    gives happiness almost nothing. A mixture keeps at least 0.29 x 0.96 of it; the old
    weighted product (log-linear, kept for models saved before) all but erased it."""
    t, audio = 4, torch.randn(1, 4, 12)
    inputs = ModelInputs.of(audio=audio, face=sure_face("happiness", t))
    happy = BASIC.index("happiness")
    face_share = 0.29 / (0.5 + 0.29)
    with torch.no_grad():
        out = sure_audio_model("anger")(inputs)
        product = sure_audio_model("anger", fusion="log-linear")(inputs)
    for fused in (out.chunk_log_probs.exp()[0, :, happy], out.clip_log_probs.exp()[0, happy : happy + 1]):
        assert (fused >= face_share * 0.96 - 1e-4).all()
    assert (product.clip_log_probs.exp()[0, happy] < 0.05).all()


def test_an_unreliable_modality_weighs_less_and_an_absent_one_not_at_all():
    t, audio = 4, torch.randn(1, 4, 12)
    happy = BASIC.index("happiness")
    model = sure_audio_model("anger")
    with torch.no_grad():
        full = model(ModelInputs.of(audio=audio, face=sure_face("happiness", t)))
        glimpsed = model(ModelInputs.of(audio=audio, face=sure_face("happiness", t, share_with_face=0.2)))
        alone = model(ModelInputs.of(audio=audio))
        # a transcript present in the mask but covering none of the window carries no weight
        text = torch.cat([torch.randn(1, t, ChunkModelConfig.text_dim), torch.zeros(1, t, 1)], -1)
        untrusted_text = model(ModelInputs.of(audio=audio, text=text, text_mask=torch.ones(1, t, dtype=torch.bool)))
    happiness = [o.clip_log_probs.exp()[0, happy] for o in (full, glimpsed, alone)]
    assert happiness[0] > happiness[1] > happiness[2]
    assert (glimpsed.modality_weights[0, :, 1] < full.modality_weights[0, :, 1]).all()
    assert torch.allclose(untrusted_text.clip_log_probs, alone.clip_log_probs, atol=1e-5)
    assert torch.allclose(untrusted_text.chunk_log_probs, alone.chunk_log_probs, atol=1e-5)


def test_compound_labels_train_the_learned_compound_head():
    rng = np.random.default_rng(0)
    target = COMPOUND.index("happily surprised")
    items = [
        TrainItem(
            rng.normal(size=(6, 12)).astype(np.float32) + (2.0 if i % 2 else 0.0),
            BASIC.index("happiness"),
            (0.5, 0.8, 0.4),
            compound=target if i % 2 else COMPOUND.index("sadly angry"),
        )
        for i in range(32)
    ]
    config = ChunkModelConfig(audio_dim=12, hidden=16)
    model = train_audio(config, items, TrainConfig(epochs=30, batch_size=8, lr=5e-3))
    assert model.config.compound_trained
    x = torch.from_numpy(rng.normal(size=(1, 6, 12)).astype(np.float32) + 2.0)
    out = model(ModelInputs.of(audio=x))
    assert int((out.chunk_weights[..., None] * out.chunk_compound).sum(1).argmax()) == target


def test_compound_scores_need_both_emotions():
    probs = torch.zeros(3, N)
    probs[0, BASIC.index("happiness")] = probs[0, BASIC.index("surprise")] = 0.5
    probs[1, BASIC.index("happiness")] = 1.0
    probs[2, BASIC.index("sadness")] = probs[2, BASIC.index("anger")] = 0.5
    scores = compound_scores(probs)
    assert COMPOUND[int(scores[0].argmax())] == "happily surprised" and scores[0].max() == pytest.approx(0.5)
    assert scores[1].max() == 0
    assert COMPOUND[int(scores[2].argmax())] == "sadly angry"


@pytest.mark.parametrize("rate", [100.0, 50.0, 4.0, 2.5])
def test_window_pooling_matches_a_direct_mean_over_each_window(rate):
    duration = 3.3
    n = int(np.ceil(duration * rate))
    values = np.random.default_rng(1).normal(size=(n, 3)).astype(np.float32)
    chunks = CHUNKS.chunks(duration)
    pooled = pool_mean_std(Features("x", "1", rate, values), chunks)
    for c in chunks[::5]:
        for s, (start, width) in enumerate(c.windows):
            frames = values[FrameRate(rate).span(start, width, n)]
            assert np.allclose(pooled[c.index, 6 * s : 6 * s + 3], frames.mean(0), atol=1e-5)
            assert np.allclose(pooled[c.index, 6 * s + 3 : 6 * s + 6], frames.std(0), atol=1e-3)  # float32 running sums


def test_chunk_inputs_mark_chunks_without_text():
    chunks = CHUNKS.chunks(2.0)
    text = np.zeros((8, 385), np.float32)
    text[:2, :384], text[:2, 384] = 1.0, 1.0  # text only in the first half second
    inputs = build_chunk_inputs(chunks, text=Features("t", "1", 4.0, text))
    assert inputs.text_mask[:2].all() and not inputs.text_mask[-2:].any()
    assert inputs.audio is None and inputs.face is None and inputs.n_chunks == 8


def _clip(rng, cls: int, n: int = 10) -> np.ndarray:
    x = rng.normal(scale=0.5, size=(n, 12)).astype(np.float32)
    x[:, cls] += 2.0  # each class raises its own feature
    return x


def test_trained_on_synthetic_sequences_the_chunk_labels_switch_at_the_boundary():
    """Clips of three classes by four speakers; a few epochs with sequences of them. On a
    new sequence (anger, then sadness) the top class of the chunks changes within a
    chunk of the boundary, and each side is its own class."""
    rng = np.random.default_rng(0)
    classes = [BASIC.index(c) for c in ("anger", "sadness", "happiness")]
    items = [
        TrainItem(_clip(rng, classes[k % 3]), classes[k % 3], (0.0, 0.0, 0.0), group=f"s{k % 4}") for k in range(48)
    ]
    config = ChunkModelConfig(audio_dim=12, hidden=16)
    model = train_audio(config, items, TrainConfig(epochs=15, batch_size=8, lr=5e-3, sequence_share=1.0))
    anger, sadness = classes[0], classes[1]
    x = torch.from_numpy(np.concatenate([_clip(rng, anger, 12), _clip(rng, sadness, 12)]))[None]
    top = model(ModelInputs.of(audio=x)).chunk_log_probs[0].argmax(-1).numpy()
    assert (top[:11] == anger).all() and (top[13:] == sadness).all(), top


def test_a_chunk_sees_a_few_seconds_either_side_and_nothing_further():
    """The bounded context: changing the first chunk of a long media moves the curve near
    it and leaves it untouched 16 chunks (4 s) later."""
    model = tiny_model()
    assert model.config.context == "dilated-conv"
    x = torch.randn(1, 80, 12)
    moved = x.clone()
    moved[0, 0] += 10.0
    a, b = model(ModelInputs.of(audio=x)), model(ModelInputs.of(audio=moved))
    assert not torch.allclose(a.chunk_log_probs[0, 3], b.chunk_log_probs[0, 3])
    assert torch.equal(a.chunk_log_probs[0, 16:], b.chunk_log_probs[0, 16:])


def test_models_saved_before_the_bounded_context_still_load():
    config = ChunkModelConfig.from_json('{"audio_dim": 12, "hidden": 16}')
    assert config.context == "gru"
    assert isinstance(ChunkEmotionModel(config).audio_context, torch.nn.GRU)


def test_valence_follows_the_classes_it_predicts():
    """Happiness chunks get positive valence, sadness and anger negative, neutral near 0,
    from a model that has only learned the classes."""
    rng = np.random.default_rng(1)
    names = ("happiness", "sadness", "anger", "neutral")
    classes = [BASIC.index(c) for c in names]
    items = [
        TrainItem(_clip(rng, classes[k % 4]), classes[k % 4], avd_prototype(names[k % 4]), group=f"s{k % 3}")
        for k in range(48)
    ]
    model = train_audio(ChunkModelConfig(audio_dim=12, hidden=16), items, TrainConfig(epochs=10, batch_size=8))
    valence = {}
    for name, c in zip(names, classes):
        out = model(ModelInputs.of(audio=torch.from_numpy(_clip(rng, c))[None]))
        valence[name] = float(out.clip_avd[0, 1])
    assert valence["happiness"] > 0.4 and valence["sadness"] < -0.3 and valence["anger"] < -0.3, valence
    assert abs(valence["neutral"]) < 0.2, valence
