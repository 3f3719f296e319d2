"""Training jobs from the studio's labels: fine-tuning end to end through the worker,
cancel, a killed worker, pseudo-labels, and the multi-process run."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from emostudio.core.config import get_settings
from emostudio.core.domain import FINETUNE_JOB, Annotation
from emostudio.services.analysis import media_for_path
from emostudio.services.gold import merged_spans
from emostudio.services.versions import register_folder
from emostudio.testing import speech, temp_repository, tiny_model, tone, write_audio
from emostudio.trainers.labelled import held_out_groups
from emostudio.trainers.supervised import TrainItem


def _annotation(media_id, label=None, annotator="ann", source="human", start=None, duration=None, **avd):
    return Annotation(None, media_id, source, annotator, label=label, start=start, duration=duration, **avd)


@pytest.fixture
def studio(tmp_path, monkeypatch):
    """A studio folder with a tiny active model and six labelled media (and a pseudo-label)."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("EMOSTUDIO_DATA_DIR", str(data))
    monkeypatch.setenv("EMOSTUDIO_DEVICE", "cpu")
    get_settings.cache_clear()
    import emostudio.trainers.jobs  # noqa: F401 - registers the job kinds

    repo = temp_repository(data)
    parent = register_folder(repo, tiny_model(tmp_path / "tiny"), active=True)
    rng = np.random.default_rng(0)
    media = []
    for k in range(6):
        signal = speech(3.0) * (0.4 + 0.1 * k) + tone(3.0, 150.0 + 60 * k) * (k % 2)
        path = write_audio(tmp_path / f"clip{k}.wav", signal + 0.01 * rng.standard_normal(len(signal)).astype("f4"))
        m = media_for_path(path)
        repo.add_media(m)
        media.append(m)
        label = "anger" if k % 2 else "sadness"
        repo.add_annotation(_annotation(m.id, label, start=0.0, duration=1.5, arousal=0.7 if k % 2 else -0.4))
        repo.add_annotation(_annotation(m.id, label, source="import", annotator="corpus"))
    repo.add_annotation(
        _annotation(media[0].id, "happiness", source="pseudo", annotator="model", start=1.5, duration=1.5)
    )
    yield repo, parent, media
    get_settings.cache_clear()


def test_finetuning_registers_a_measured_version_beside_its_parent(studio):
    from emostudio.trainers.worker import run_once

    repo, parent, media = studio
    job = repo.enqueue_job(FINETUNE_JOB, {"epochs": 2})
    done = run_once(repo)
    assert done.id == job.id and done.status == "succeeded", done.log
    version = repo.get_model_version(done.model_version_id)
    assert version.parent_id == parent.id and version.job_id == job.id and not version.active
    held = version.metrics["heldout"]
    for side in ("model", "parent"):
        assert 0.0 <= held[side]["uar"] <= 1.0 and held[side]["n"] == held["spans"] > 0
        assert sum(map(sum, held[side]["confusion"]["matrix"])) == held[side]["n"]
    # the job row says exactly what it learned from: every media, every human / imported label, no pseudo-label
    pseudo = {a.id for a in repo.annotations(source="pseudo")}
    people = {a.id for a in repo.annotations() if a.source in ("human", "import")}
    assert set(done.used_media_ids) == {m.id for m in media}
    assert set(done.used_annotation_ids) == people and not pseudo & set(done.used_annotation_ids)
    # progress: the first line came before any training, then every step, and one point per epoch for the plot
    assert done.log.splitlines()[0] == "reading the labels"
    assert done.progress_completed == done.progress_total > 0
    assert [h["epoch"] for h in done.metrics["history"]] == [1, 2]
    assert "registered" in done.log


def _run_in_thread(repo):
    from emostudio.trainers.worker import run_once

    thread = threading.Thread(target=run_once, args=(repo,), daemon=True)
    thread.start()
    return thread


def _wait_for_steps(repo, job_id, steps=1, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = repo.get_job(job_id)
        if job.progress_total and job.progress_completed >= steps:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} made no progress: {repo.get_job(job_id).log}")


def test_cancel_stops_a_running_job_at_its_next_step_and_registers_nothing(studio, tmp_path):
    repo, parent, media = studio
    job = repo.enqueue_job(FINETUNE_JOB, {"epochs": 500})
    worker = _run_in_thread(repo)
    running = _wait_for_steps(repo, job.id)
    assert repo.cancel_job(job.id, by="ann").status == "cancelled"
    worker.join(timeout=30)
    assert not worker.is_alive()
    ended = repo.get_job(job.id)
    assert ended.status == "cancelled" and "cancelled by ann" in ended.log
    assert running.progress_completed <= ended.progress_completed < ended.progress_total  # stopped early
    assert [v.id for v in repo.list_model_versions()] == [parent.id]
    assert not ended.used_media_ids and not list((tmp_path / "data").glob("models/*/model.safetensors"))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "emostudio.cli", *args]


def test_a_killed_worker_job_is_recovered_and_no_half_trained_version_is_registered(studio, tmp_path):
    from emostudio.trainers.worker import recover_dead_jobs, run_once

    repo, parent, media = studio
    job = repo.enqueue_job(FINETUNE_JOB, {"epochs": 30})
    worker = subprocess.Popen(_cli("worker", "--once"), env=os.environ.copy())
    try:
        _wait_for_steps(repo, job.id, steps=3)
    finally:
        worker.kill()  # SIGKILL: no clean-up runs
        worker.wait(timeout=30)
    assert repo.get_job(job.id).status == "running"  # as the dead worker left it
    assert [v.id for v in repo.list_model_versions()] == [parent.id]
    assert recover_dead_jobs(repo) == [job.id]
    assert repo.get_job(job.id).status == "queued" and repo.get_job(job.id).attempts == 1
    done = run_once(repo)
    assert done.status == "succeeded", done.log
    versions = [v for v in repo.list_model_versions() if v.id != parent.id]
    assert [(v.id, v.job_id) for v in versions] == [(done.model_version_id, job.id)]
    assert len(list((tmp_path / "data").glob("models/*/model.safetensors"))) == 1


def test_pseudo_labels_never_count_as_human_labels(studio):
    from emostudio.core.errors import StudioError

    repo, parent, media = studio
    pseudo = repo.annotations(source="pseudo")
    assert pseudo and all(a.annotator == "model" for a in pseudo)
    spans, _ = merged_spans(repo.annotations())
    assert all("model" not in s.annotators for s in spans)
    assert not {a.id for a in pseudo} & {i for s in spans for i in s.annotation_ids}
    assert repo.human_annotation_counts() == {
        m.id: 1 for m in media
    }  # one correction each, the pseudo-label not counted
    with pytest.raises(StudioError, match="only self-training"):
        merged_spans(repo.annotations(), sources=("human", "pseudo"))


@pytest.mark.parametrize(
    "given, label, arousal",
    [
        ([("a", "anger", 0.8)], "anger", 0.8),
        ([("a", "anger", None), ("b", "anger", None), ("c", "sadness", None)], "anger", None),  # majority
        ([("a", "anger", None), ("b", "sadness", None)], None, None),  # a tie teaches nothing
        ([("a", "anger", 0.8), ("b", None, 0.4)], "anger", 0.6),  # dimensions: the mean
        ([("a", "anger", 0.8), ("a", "fear", 0.2)], "fear", 0.2),  # a person's newest correction replaces theirs
        ([("a", None, 0.5), ("b", "sadness", None), ("b", "anger", None)], "anger", 0.5),
    ],
)
def test_labels_merge_per_span_majority_and_mean_newest_per_person(given, label, arousal):
    annotations = [
        Annotation(k + 1, "m1", "human", who, label=lab, arousal=a, start=1.0, duration=2.0)
        for k, (who, lab, a) in enumerate(given)
    ]
    spans, ties = merged_spans(annotations)
    if label is None and arousal is None:
        assert spans == [] and ties == 1
        return
    [span] = spans
    assert (span.label, span.avd[0]) == (label, arousal if arousal is None else pytest.approx(arousal))


def test_one_annotators_labels_only():
    annotations = [
        Annotation(1, "m1", "human", "a", label="anger"),
        Annotation(2, "m1", "human", "b", label="sadness"),
        Annotation(3, "m1", "human", "c", label="sadness"),
    ]
    assert [s.label for s in merged_spans(annotations)[0]] == ["sadness"]
    assert [s.label for s in merged_spans(annotations, annotator="a")[0]] == ["anger"]


def test_the_held_out_side_is_fixed_keeps_the_parents_and_leaves_both_sides_something():
    groups = [f"speaker:{k}" for k in range(40)]
    held = held_out_groups(groups, 0.2)
    assert held == held_out_groups(reversed(groups), 0.2)  # a function of the names, not of the order
    assert 3 <= len(held) <= 14
    assert held_out_groups(groups + ["speaker:new"], 0.2) - {"speaker:new"} == held  # a new speaker moves no one
    parents = {"speaker:1", "speaker:2"}
    assert parents <= held_out_groups(groups, 0.2, keep=parents)
    for two in (["media:a", "media:b"], ["speaker:x", "speaker:y"]):
        held = held_out_groups(two, 0.2)
        assert len(held) == 1
        assert len(held_out_groups(two, 0.99)) == 1


def test_two_processes_train_one_version_together(studio):
    """`torchrun --nproc_per_node 2` runs `emostudio train finetune` as two CPU processes
    (MULTI_CPU): both train a share of every epoch, gradients averaged; one version."""
    repo, parent, media = studio
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        + _cli("train", "finetune", "--epochs", "2")[1:],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    [job] = repo.list_jobs()
    assert job.status == "succeeded" and job.requested_by == "command line"
    assert job.metrics["processes"] == 2
    assert len(job.metrics["clips_per_process"]) == 2 and min(job.metrics["clips_per_process"]) > 0
    assert [v.id for v in repo.list_model_versions() if v.id != parent.id] == [job.model_version_id]
    assert f"registered model version {job.model_version_id}" in run.stdout


def test_self_training_stores_its_pseudo_labels_with_the_version_and_never_as_peoples(studio, tmp_path):
    from emostudio.core.domain import SELFTRAIN_JOB
    from emostudio.services.export import export_table
    from emostudio.trainers.worker import run_once

    repo, parent, media = studio
    unlabelled = []
    for k in range(4):  # the library's media nobody labelled
        path = write_audio(tmp_path / f"new{k}.wav", speech(2.5) * (0.3 + 0.15 * k) + tone(2.5, 90.0 + 40 * k) * 0.1)
        m = media_for_path(path)
        repo.add_media(m)
        unlabelled.append(m)
    people_before = repo.human_annotation_counts()
    job = repo.enqueue_job(SELFTRAIN_JOB, {"rounds": 2, "epochs": 1, "share": 0.5})
    done = run_once(repo)
    assert done.status == "succeeded", done.log
    assert "round 1:" in done.log and "round 2:" in done.log
    mine = [a for a in repo.annotations(source="pseudo") if a.model_version_id == done.model_version_id]
    assert mine and {a.media_id for a in mine} <= {m.id for m in unlabelled}
    assert all(a.annotator == f"self-training (job {job.id})" and 0 < a.confidence <= 1 for a in mine)
    assert repo.human_annotation_counts() == people_before  # never counted as people's labels
    from emostudio.services.library import studio_rows

    shown = {row[0]: row[5] for row in studio_rows(repo)}  # the Library page's "annotated" column
    pseudo_on = {a.media_id for a in mine}
    assert all(shown[m.name].startswith("no (") and "pseudo" in shown[m.name] for m in unlabelled if m.id in pseudo_on)
    assert not {a.id for a in mine} & set(done.used_annotation_ids)
    assert {m.id for m in unlabelled} <= set(done.used_media_ids)
    version = repo.get_model_version(done.model_version_id)
    assert version.metrics["train"]["pseudo_labels"] == len(mine) and version.parent_id == parent.id
    # exported, and marked as what they are
    _, rows = export_table(repo, "annotations")
    rows = [r for r in rows if r["annotator"].startswith("self-training")]
    assert len(rows) == len(mine) and {r["source"] for r in rows} == {"pseudo"}


def test_a_class_the_model_favours_cannot_take_over_the_pseudo_labels():
    from emostudio.trainers.selftrain import balanced_pseudo_labels

    rng = np.random.default_rng(0)
    n = 400
    probs = rng.dirichlet(np.ones(4) * 0.5, size=n)
    probs[: n * 3 // 4, 0] += 2.0  # three clips in four lean to class 0
    probs /= probs.sum(1, keepdims=True)
    predicted = probs.argmax(1)
    index, labels, confidence = balanced_pseudo_labels(probs, share=0.2)
    for c in range(4):  # each class keeps about the top fifth of the clips predicted as it
        assert abs((labels == c).sum() - 0.2 * (predicted == c).sum()) <= 2
    assert np.allclose(confidence, probs[index, labels])
    taken, _, _ = balanced_pseudo_labels(probs, share=0.6)
    assert set(index) <= set(taken) and len(taken) > 2 * len(index)  # a larger share keeps more, the sure ones first


def test_perturbed_views_keep_the_clean_chunks_apart_from_noise_masking_and_speed():
    import torch

    from emostudio.model.network import ModelInputs
    from emostudio.trainers.supervised import perturbed_views, stack_batches

    x = torch.randn(3, 40, 8)
    mask = torch.ones(3, 40, dtype=torch.bool)
    mask[2, 25:] = False  # a shorter clip, padded
    inputs = ModelInputs.of(audio=x, chunk_mask=mask)
    noisy, stretched = perturbed_views(inputs, torch.ones(8), torch.Generator().manual_seed(0))
    assert noisy.audio.shape == x.shape and torch.equal(noisy.chunk_mask, mask)  # chunk for chunk with the clean view
    changed = (noisy.audio - x).abs().amax(-1) > 0
    assert changed[mask].all() and 0.1 < (noisy.audio - x).std() < 0.5  # noise at 0.2 of the spread, plus masking
    assert 32 <= stretched.audio.shape[1] <= 50 and stretched.audio.shape[1] != 40  # 0.8 to 1.25 times as long
    short = stretched.chunk_mask[2].sum() / stretched.chunk_mask[0].sum()
    assert abs(short - 25 / 40) < 0.1  # the padded clip stays as short, relative to the others
    both = stack_batches([inputs, noisy, stretched])
    assert both.audio.shape[0] == 9 and both.audio.shape[1] == max(40, stretched.audio.shape[1])
    assert not both.chunk_mask[:3, 40:].any()  # the clean rows' padding stays padding


def test_the_rankers_job_trains_the_chunk_curves_from_preferences_and_registers_a_version(studio):
    from emostudio.core.domain import RANKERS_JOB
    from emostudio.trainers.worker import run_once

    repo, parent, media = studio
    job = repo.enqueue_job(RANKERS_JOB, {"epochs": 2})
    assert job.status == "queued"
    done = run_once(repo)
    assert done.status == "succeeded", done.log
    assert "training the rankers" in done.log and [h["epoch"] for h in done.metrics["history"]] == [1, 2]
    assert repo.get_model_version(done.model_version_id).metrics["train"]["ranker_curves"] > 0


def test_rankers_learn_which_chunk_is_more_aroused_and_their_curves_follow_it():
    from emostudio.trainers.rankers import preference_pairs, ranker_curves, train_rankers

    rng = np.random.default_rng(0)
    items = []
    for k in range(60):  # feature 0 carries arousal; half of each clip is calm whatever the label
        arousal = [-0.6, 0.0, 0.7][k % 3]
        x = rng.normal(size=(12, 6)).astype(np.float32)
        x[6:, 0] += 3.0 * arousal
        items.append(TrainItem(x, k % 3, (arousal, 0.0, 0.0), group=f"s{k % 4}", avd_known=(True, False, False)))
    high, low, dims = preference_pairs(items, 50, random.Random(0))
    assert len(dims) == 50 and set(dims) == {0}  # only arousal was rated, and differs enough
    assert all(items[i].avd[0] > items[j].avd[0] for (i, _), (j, _) in zip(high, low))
    ranker = train_rankers(items, epochs=10)
    curves = ranker_curves(ranker, items)
    aroused = [c for c, it in zip(curves, items) if it.avd[0] > 0.5]
    # within a clip, the chunks that carry the emotion score above those that do not
    assert np.mean([c[8:, 0].mean() - c[:4, 0].mean() for c in aroused]) > 0.2
    assert all(-1.0 <= c.min() and c.max() <= 1.0 for c in curves)


@pytest.fixture
def av_studio(studio, tmp_path):
    """The studio, plus four generated talking-face videos: two labelled, two not."""
    from emostudio.testing import face_picture, write_av

    repo, parent, media = studio
    videos = []
    for k in range(4):
        signal = speech(2.0) * (0.5 + 0.2 * k)
        path = write_av(
            tmp_path / f"talk{k}.mp4", video_seconds=2.0, size=(256, 256), picture=face_picture(), audio=signal
        )
        m = media_for_path(path)
        repo.add_media(m)
        videos.append(m)
        if k < 2:
            repo.add_annotation(_annotation(m.id, "anger" if k else "sadness"))
    return repo, parent, media, videos


def test_the_alignment_job_aligns_voice_and_face_and_registers_a_version_measured_fused(av_studio):
    from emostudio.core.domain import ALIGN_JOB
    from emostudio.model.network import load_model
    from emostudio.services.analysis import Analyzer
    from emostudio.trainers.worker import run_once

    repo, parent, media, videos = av_studio
    job = repo.enqueue_job(ALIGN_JOB, {"epochs": 2})
    done = run_once(repo)
    assert done.status == "succeeded", done.log
    assert "aligning voice and face on" in done.log and [h["epoch"] for h in done.metrics["history"]] == [1, 2]
    version = repo.get_model_version(done.model_version_id)
    assert version.parent_id == parent.id and version.job_id == job.id
    train = version.metrics["train"]
    # the unlabelled videos align too (by time), and the job row names them
    assert train["aligned_media"] >= 3 and train["unlabelled_media"] == 2
    assert {v.id for v in videos[2:]} <= set(done.used_media_ids)
    assert train["alignment"]["train"]["media"] >= 3 and train["alignment"]["train"]["voice_rank_of_face"] >= 1
    held = version.metrics["heldout"]
    assert held["model"]["n"] == held["parent"]["n"] == held["spans"] > 0
    model = load_model(version.path)  # what activation analyses with
    assert model.config.align_dim == 32 and model.align_head.weight.abs().sum() > 0
    assert model.config.face_embedding_dim == 129  # it aligned the face model's embeddings
    analysis = Analyzer(model, version.id, modalities=("audio", "face")).analyze(videos[3])
    assert "face-fer2013-embedding@" in analysis.clip.extractor
    assert any("face" in c.modalities for c in analysis.chunks)


def test_alignment_needs_media_with_a_voice_and_a_face(studio):
    from emostudio.core.domain import ALIGN_JOB
    from emostudio.trainers.worker import run_once

    repo, parent, media = studio
    repo.enqueue_job(ALIGN_JOB, {"epochs": 1})
    done = run_once(repo)
    assert done.status == "failed" and "alignment needs media with both a voice and a face" in done.error
    assert [v.id for v in repo.list_model_versions()] == [parent.id]


def _av_items(n: int, rng, labelled_share: float = 0.5):
    """Clips of four emotions whose voice (6 features) and face (FER-like probabilities at
    3 scales) both carry the emotion, each through its own noisy code, and something of
    the clip's own that both show (the same moment of one person)."""
    codes = np.random.default_rng(0)  # the same codes for every draw of clips
    voice_codes, face_codes = codes.normal(size=(4, 6)), codes.normal(size=(4, 7))
    voice_mix, face_mix = codes.normal(size=(3, 6)), codes.normal(size=(3, 7))
    items = []
    for k in range(n):
        c, own = k % 4, rng.normal(size=3)
        audio = (voice_codes[c] * 1.5 + own @ voice_mix + rng.normal(size=(10, 6))).astype(np.float32)
        logits = face_codes[c] * 2.0 + own @ face_mix + rng.normal(size=(10, 7))
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        face = np.concatenate([probs, np.ones((10, 1))] * 3, axis=1).astype(np.float32)
        label = c if k < labelled_share * n else -100
        items.append(TrainItem(audio, label, (0.0, 0.0, 0.0), face=face, group=f"s{k % 5}"))
    return items


def test_alignment_pulls_each_face_toward_its_own_voice_and_learns_same_emotion_pairs():
    import copy

    import torch

    from emostudio.core.labels import LabelSpace
    from emostudio.model.network import ChunkModelConfig
    from emostudio.services.training import AlignOptions
    from emostudio.trainers.align import ALIGNED, alignment_measures, alignment_objective, with_alignment
    from emostudio.trainers.supervised import TrainConfig, train_audio

    rng = np.random.default_rng(0)
    train, test = _av_items(80, rng), _av_items(24, np.random.default_rng(1), labelled_share=0.0)
    space = LabelSpace(basic=("neutral", "happiness", "sadness", "anger"), compound=())
    config = ChunkModelConfig(audio_dim=6, hidden=16, labels=space)
    voice = train_audio(config, [it for it in train if it.label >= 0], TrainConfig(epochs=15, sequence_share=0.0))
    start = with_alignment(voice, 16, face_embedding=0)  # the face's probabilities are what it aligns
    before = alignment_measures(start, test)
    aligned = train_audio(
        start.config,
        train,
        TrainConfig(epochs=40, lr=3e-3, sequence_share=0.0),
        model=copy.deepcopy(start),
        objective=alignment_objective(AlignOptions()),
        trains=ALIGNED,
    )
    after = alignment_measures(aligned, test)
    # on unseen clips: a face's own voice is nearer than before, and the auxiliary head tells
    # a clip's own voice and face (one emotion) from another clip's
    assert after["voice_rank_of_face"] < 0.5 * before["voice_rank_of_face"]
    assert (
        after["same_emotion_own"] - after["same_emotion_other"]
        > 0.05
        > abs(before["same_emotion_own"] - before["same_emotion_other"])
    )
    # the audio branch did not move
    for name, p in voice.state_dict().items():
        assert torch.equal(p, aligned.state_dict()[name]) or name.startswith(ALIGNED), name


def test_face_probabilities_are_matched_to_the_label_space_by_name_and_an_aligned_model_starts_as_its_parent():
    import torch

    from emostudio.core.labels import BASIC, LabelSpace
    from emostudio.model.network import ChunkEmotionModel, ChunkModelConfig, ModelInputs
    from emostudio.trainers.align import with_alignment

    probs = torch.full((1, 1, 7), 0.02)
    probs[..., BASIC.index("happiness")] = 0.88
    face = torch.cat([probs, torch.ones(1, 1, 1)] * 3, -1)
    space = LabelSpace(basic=("anger", "happiness", "neutral"), compound=())  # another order, fewer classes
    model = ChunkEmotionModel(ChunkModelConfig(audio_dim=4, hidden=8, labels=space)).eval()
    logits = model.face_logits(face)
    assert space.basic[int(logits.argmax())] == "happiness"
    assert torch.allclose(logits.softmax(-1).sum(), torch.tensor(1.0))
    inputs = ModelInputs.of(audio=torch.randn(1, 1, 4), face=face)
    aligned = with_alignment(model, 8, face_embedding=0).eval()
    assert torch.allclose(aligned(inputs).clip_log_probs, model(inputs).clip_log_probs, atol=1e-6)


def test_labels_recorded_elsewhere_are_matched_to_the_unlabelled_media_statistics():
    from emostudio.trainers.selftrain import matched_to

    rng = np.random.default_rng(0)
    labelled = [TrainItem((rng.normal(size=(20, 4)) * 3 + 5).astype("f4"), k % 2, (0.0, 0.0, 0.0)) for k in range(30)]
    target = rng.normal(size=(500, 4)).astype("f4") * [1, 2, 0.5, 1] - 1
    matched = np.concatenate([it.audio for it in matched_to(labelled, target)])
    assert np.allclose(matched.mean(0), target.mean(0), atol=1e-3)
    assert np.allclose(matched.std(0), target.std(0), rtol=1e-3)
    # each chunk keeps its place among the others (one affine map per feature), and its label
    before = np.concatenate([it.audio for it in labelled])
    assert np.allclose(np.corrcoef(before[:, 0], matched[:, 0])[0, 1], 1.0)
    assert [it.label for it in matched_to(labelled, target)] == [it.label for it in labelled]


def test_continuous_traces_are_targets_the_finetuning_learns_from(studio):
    from emostudio.services.gold import gold_spans
    from emostudio.services.traces import save_trace
    from emostudio.trainers.worker import run_once

    repo, parent, media = studio
    clip = media[0]
    samples = int(clip.duration * 10) - 1
    save_trace(repo, clip, "ana", "arousal", 0.0, [0.8] * samples)
    spans, _ = gold_spans(repo.annotations(), repo.traces())
    traced = [s for s in spans if s.trace_ids]
    assert len(traced) == int(np.ceil(samples / 10)) and {s.media_id for s in traced} == {clip.id}
    assert all(s.avd[0] == pytest.approx(0.8) and s.avd[1:] == (None, None) and s.label is None for s in traced)
    assert not gold_spans(repo.annotations(), repo.traces(), sources=("import",))[0] or all(
        not s.trace_ids for s in gold_spans(repo.annotations(), repo.traces(), sources=("import",))[0]
    )
    repo.enqueue_job(FINETUNE_JOB, {"epochs": 1})
    done = run_once(repo)
    assert done.status == "succeeded", done.log
    assert f"and {len(traced)} from continuous traces" in done.log
