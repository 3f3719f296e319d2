"""Does the recipe hold on speech it never trained on? Leave-one-corpus-out, side by side
with the classic cross-corpus baseline, in one run:

    python -m bench.generalisation [--data ../shared/data]

For each direction (RAVDESS -> EmoDB, EmoDB -> RAVDESS), on the classes both corpora
share (neutral, happiness, sadness, anger, fear, disgust; RAVDESS calm and EmoDB
boredom count as neutral, as in the studio's label space):

- project: the chunk model trained on the training corpus with the defaults' recipe,
  as trained, and with its input standardisation taken from the test corpus's own
  features (the same unsupervised adaptation the baseline gets);
- baseline: openSMILE ComParE_2016 functionals + class-balanced linear SVM, features
  z-scored per corpus (the test corpus by its own statistics, no test labels: the
  standard unsupervised cross-corpus normalisation); C chosen by speaker-grouped
  3-fold CV on the training corpus. The same SVM with the scaler fit on the training
  corpus only is reported too.

Figures (goals from issue 11):
- UAR (goal: project >= normalised baseline + 10 points);
- collapse: the largest predicted share of a class over its true share (goal <= 1.5);
- ECE of the project's clip probabilities, 10 bins (goal <= 0.08), after the
  temperature chosen on development speakers of the training corpus (every 5th);
- mean clip valence per true class (goal: happiness > 0 > anger, sadness, fear, disgust);
- curve tracking on sequences of six test-corpus clips of six emotions by one speaker
  joined with 0.3 s pauses: per-chunk accuracy (goal >= the same clips analysed alone),
  share of boundaries where the top class switches to the new class within 1 s (goal
  >= 70%) and the median delay of those switches (goal <= 0.5 s).

Writes ``bench/results/generalisation.json``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from bench.accuracy import ComParEFunctionals, _svm, choose_c
from bench.results import write_results
from emostudio.core.config import get_settings
from emostudio.core.labels import LabelSpace
from emostudio.core.timegrid import CHUNKS
from emostudio.features import FeatureCache, FeatureInput, get_extractor
from emostudio.media.decode import SAMPLE_RATE, load_audio
from emostudio.media.recipes import load_corpus
from emostudio.model.chunk_inputs import build_chunk_inputs
from emostudio.model.network import ModelInputs, avd_prototype
from emostudio.services.analysis import audio_features, media_for_path
from emostudio.trainers.corpora import load_speech_corpus
from emostudio.trainers.defaults import AUDIO_EXTRACTORS, development_speakers
from emostudio.trainers.supervised import (
    TrainConfig,
    TrainItem,
    expected_calibration_error,
    fit_temperature,
    predict_clips,
    train_audio,
    uar_wa,
)

COMMON = ("neutral", "happiness", "sadness", "anger", "fear", "disgust")
PAUSE = 0.3
SEQUENCES_PER_SPEAKER = 2
SWITCH_WITHIN = 1.0


def _items(examples) -> list[TrainItem]:
    return [TrainItem(e.inputs.audio, COMMON.index(e.label), avd_prototype(e.raw_label)) for e in examples]


@torch.inference_mode()
def chunk_classes(model, audio_inputs: np.ndarray) -> np.ndarray:
    """The top class of every chunk of one media."""
    x = torch.from_numpy(audio_inputs)[None]
    mask = torch.ones(1, len(audio_inputs), dtype=torch.bool)
    out = model(ModelInputs.of(audio=x, chunk_mask=mask))
    return out.chunk_log_probs[0].argmax(-1).numpy()


def collapse(y_true, y_pred, n: int) -> float:
    true_share = np.bincount(y_true, minlength=n) / len(y_true)
    pred_share = np.bincount(y_pred, minlength=n) / len(y_pred)
    present = true_share > 0
    return float((pred_share[present] / true_share[present]).max())


def baseline_predictions(train_x, train_y, train_groups, test_x, per_corpus: bool) -> np.ndarray:
    def z(x, ref):
        return (x - ref.mean(0)) / np.maximum(ref.std(0), 1e-8)

    tr = z(train_x, train_x)
    te = z(test_x, test_x if per_corpus else train_x)
    return _svm(choose_c(tr, train_y, train_groups)).fit(tr, train_y).predict(te)


def build_sequences(items, seed: int) -> list[tuple[list, list[tuple[float, float, int]]]]:
    """Per test speaker, ``SEQUENCES_PER_SPEAKER`` lists of six clips of six different
    classes (random order), as (clips, [(start, end, class)])."""
    rng = random.Random(seed)
    by_speaker: dict[str, dict[int, list]] = {}
    for it in items:
        by_speaker.setdefault(it.speaker, {}).setdefault(COMMON.index(it.label), []).append(it)
    sequences = []
    for speaker in sorted(by_speaker):
        classes = by_speaker[speaker]
        if len(classes) < len(COMMON):
            continue
        for _ in range(SEQUENCES_PER_SPEAKER):
            order = list(classes)
            rng.shuffle(order)
            sequences.append([(rng.choice(classes[c]), c) for c in order])
    return sequences


def curve_tracking(model, sequences, extractors, cache, workdir: Path) -> dict:
    """Per-chunk accuracy of sequences and of their clips alone; boundary switches."""
    seq_hits, alone_hits, switched, delays, boundaries = [], [], 0, [], 0
    for k, seq in enumerate(sequences):
        pieces, spans, t = [], [], 0.0
        for item, c in seq:
            audio = load_audio(item.path)
            pieces += [audio, np.zeros(int(PAUSE * SAMPLE_RATE), np.float32)]
            spans.append((t, t + len(audio) / SAMPLE_RATE, c))
            t += len(audio) / SAMPLE_RATE + PAUSE
            # the clip alone
            alone = media_for_path(item.path)
            chunks = CHUNKS.chunks(alone.duration)
            feats = audio_features(alone, extractors, cache)
            pred = chunk_classes(model, build_chunk_inputs(chunks, audio=feats).audio)
            alone_hits += list(pred == c)
        path = workdir / f"sequence_{k}.wav"
        sf.write(path, np.concatenate(pieces), SAMPLE_RATE)
        media = media_for_path(path)
        chunks = CHUNKS.chunks(media.duration)
        pred = chunk_classes(model, build_chunk_inputs(chunks, audio=audio_features(media, extractors, cache)).audio)
        centres = np.array([ch.center for ch in chunks])
        for i, (lo, hi, c) in enumerate(spans):
            inside = (centres >= lo) & (centres < hi)
            seq_hits += list(pred[inside] == c)
            if i == 0:
                continue
            boundaries += 1
            after = np.flatnonzero((centres >= lo) & (centres < min(hi, lo + SWITCH_WITHIN)))
            hit = [j for j in after if pred[j] == c]
            if hit:
                switched += 1
                delays.append(float(centres[hit[0]] - lo))
    return {
        "sequences": len(sequences),
        "boundaries": boundaries,
        "chunk_accuracy": round(float(np.mean(seq_hits)), 4),
        "chunk_accuracy_clips_alone": round(float(np.mean(alone_hits)), 4),
        "switch_share": round(switched / max(boundaries, 1), 4),
        "median_switch_delay_s": round(float(np.median(delays)), 3) if delays else None,
    }


def direction(train_corpus, test_corpus, data, extractors, cache, smile, epochs, workdir) -> dict:
    t0 = time.time()
    train_ex = [e for e in load_speech_corpus(data, train_corpus, extractors, cache) if e.label in COMMON]
    test_ex = [e for e in load_speech_corpus(data, test_corpus, extractors, cache) if e.label in COMMON]
    config_labels = LabelSpace(basic=COMMON, compound=())
    from emostudio.model.network import ChunkModelConfig

    config = ChunkModelConfig(
        audio_dim=train_ex[0].inputs.audio.shape[1], audio_extractors=AUDIO_EXTRACTORS, labels=config_labels
    )
    # the recipe: train on the training corpus's speakers but every 5th, calibrate on those
    dev = set(development_speakers(e.group for e in train_ex))
    model = train_audio(config, _items([e for e in train_ex if e.group not in dev]), TrainConfig(epochs=epochs))
    temperature, _, dev_ece = fit_temperature(model, _items([e for e in train_ex if e.group in dev]))
    y = np.array([COMMON.index(e.label) for e in test_ex])
    test_items = [it for it in load_corpus(test_corpus, data) if it.label in COMMON]
    sequences = build_sequences(test_items, seed=0)
    project = {}
    for variant in ("as_trained", "test_corpus_normalised"):
        if variant == "test_corpus_normalised":
            # the baseline's unsupervised adaptation, for the chunk model: its input
            # standardisation from the test corpus's own features (no labels)
            model.fit_normalizer(torch.from_numpy(np.concatenate([e.inputs.audio for e in test_ex])))
        probs, avd = predict_clips(model, _items(test_ex))
        pred = probs.argmax(1)
        uar, wa = uar_wa(y, pred)
        project[variant] = {
            "temperature": round(temperature, 3),
            "dev_ece": round(dev_ece, 4),
            "uar": round(uar, 4),
            "wa": round(wa, 4),
            "collapse": round(collapse(y, pred, len(COMMON)), 3),
            "ece": round(expected_calibration_error(probs, y), 4),
            "recall": {c: round(float((pred[y == i] == i).mean()), 3) for i, c in enumerate(COMMON)},
            "mean_valence": {c: round(float(avd[y == i, 1].mean()), 3) for i, c in enumerate(COMMON)},
            "mean_arousal": {c: round(float(avd[y == i, 0].mean()), 3) for i, c in enumerate(COMMON)},
            "curves": curve_tracking(model, sequences, extractors, cache, workdir),
        }
        print(f"{train_corpus} -> {test_corpus}: project ({variant}) {project[variant]}", flush=True)

    def functionals(corpus):
        items = [it for it in load_corpus(corpus, data) if it.label in COMMON]
        x = np.concatenate([cache.get(smile, FeatureInput(media_for_path(it.path))).values for it in items])
        return x, np.array([COMMON.index(it.label) for it in items]), np.array([it.speaker for it in items])

    tr_x, tr_y, tr_g = functionals(train_corpus)
    te_x, te_y, _ = functionals(test_corpus)
    baseline = {}
    for name, per_corpus in (("per_corpus_normalised", True), ("train_normalised", False)):
        bp = baseline_predictions(tr_x, tr_y, tr_g, te_x, per_corpus)
        b_uar, b_wa = uar_wa(te_y, bp)
        baseline[name] = {"uar": round(b_uar, 4), "wa": round(b_wa, 4), "collapse": round(collapse(te_y, bp, 6), 3)}
        print(f"{train_corpus} -> {test_corpus}: baseline ({name}) UAR {b_uar:.3f}", flush=True)

    return {
        "train_clips": len(train_ex),
        "test_clips": len(test_ex),
        "project": project,
        "baseline": baseline,
        "seconds": round(time.time() - t0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--cache", default=None, type=Path, help="feature cache (default: <data_dir>/cache/features)")
    parser.add_argument("--epochs", default=TrainConfig.epochs, type=int)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cache = FeatureCache(args.cache or get_settings().cache_dir / "features")
    extractors = [get_extractor(n) for n in AUDIO_EXTRACTORS]
    smile = ComParEFunctionals()
    figures = {"classes": list(COMMON), "epochs": args.epochs, "directions": {}}
    with tempfile.TemporaryDirectory(prefix="emostudio-generalisation-") as tmp:
        for train, test in (("ravdess", "emodb"), ("emodb", "ravdess")):
            figures["directions"][f"{train}->{test}"] = direction(
                train, test, args.data, extractors, cache, smile, args.epochs, Path(tmp)
            )
    print()
    print(
        f"{'direction':16} {'variant':24} {'UAR':>6} {'baseline':>9} {'goal':>6} {'collapse':>9} {'ECE':>6} "
        f"{'chunk acc':>9} {'alone':>6} {'switch':>7}"
    )
    for name, d in figures["directions"].items():
        b = d["baseline"]["per_corpus_normalised"]["uar"]
        for variant, p in d["project"].items():
            c = p["curves"]
            print(
                f"{name:16} {variant:24} {p['uar']:6.3f} {b:9.3f} {b + 0.10:6.3f} {p['collapse']:9.2f} "
                f"{p['ece']:6.3f} {c['chunk_accuracy']:9.3f} {c['chunk_accuracy_clips_alone']:6.3f} "
                f"{c['switch_share']:7.2f}"
            )
    print(f"wrote {write_results('generalisation', figures)}")


if __name__ == "__main__":
    main()
