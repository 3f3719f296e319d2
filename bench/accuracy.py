"""Speaker-independent accuracy: the project's chunk model against the classic baseline.

    python -m bench.accuracy [--data ../shared/data] [--corpus emodb ravdess]

Both systems run on the same folds, with each corpus's own classes:
- EmoDB, leave-one-speaker-out (10 folds), 7 classes;
- RAVDESS speech, actor-independent 6-fold (actors 1-4, 5-8, ...), 8 classes.

(a) project: the chunk model (Whisper tiny.en encoder + log-mel + prosody, pooled over
    multi-scale windows, attention pooling to the clip), trained per fold with the
    recipe that trains the shipped defaults;
(b) baseline: openSMILE ComParE_2016 functionals + standardised, class-balanced
    linear SVM; its C is chosen per fold by an inner speaker-grouped 3-fold
    cross-validation on that fold's training speakers (the test fold chooses nothing);
(c) the same baseline with per-speaker z-normalisation (each speaker, the test
    speaker included, by their own feature statistics; no labels).

The project's mean clip valence and arousal per true class on the test folds are
recorded too (goal: happiness > 0 > anger, sadness, fear, disgust).

The project's recipe trains each fold for ``TrainConfig``'s fixed epochs (nothing is
tuned on the folds). Also scores the shipped face model on the FER2013 private test
(3,589 faces, 7 classes).

Prints UAR (mean per-class recall) and WA (accuracy) per system and corpus, and writes
them to ``bench/results/accuracy.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.results import write_results
from emostudio.core.config import get_settings
from emostudio.core.labels import LabelSpace
from emostudio.features import FeatureCache, FeatureExtractor, FeatureInput, get_extractor
from emostudio.media.recipes import load_corpus
from emostudio.model.network import ChunkModelConfig
from emostudio.services.analysis import media_for_path
from emostudio.trainers.corpora import load_speech_corpus
from emostudio.trainers.defaults import AUDIO_EXTRACTORS
from emostudio.trainers.supervised import TrainConfig, items_from_examples, predict_clips, train_audio, uar_wa

BASELINE_C = (1e-4, 3e-4, 1e-3)


class ComParEFunctionals(FeatureExtractor):
    """The baseline's features: one ComParE_2016 functionals vector (6373) per clip."""

    name, modality, frame_rate, dim = "opensmile-compare-functionals", "audio", 0.0, 6373

    def __init__(self):
        import opensmile

        self.smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.ComParE_2016, feature_level=opensmile.FeatureLevel.Functionals
        )

    def extract(self, inputs: FeatureInput) -> np.ndarray:
        return self.smile.process_file(inputs.media.path).to_numpy(np.float32)


def folds_for(corpus: str, groups: np.ndarray) -> list[np.ndarray]:
    """Test masks: one speaker per fold for EmoDB, six folds of four actors for RAVDESS."""
    speakers = sorted(set(groups), key=lambda g: int(g.split(":")[1]))
    if corpus == "emodb":
        return [groups == s for s in speakers]
    per_fold = len(speakers) // 6
    return [np.isin(groups, speakers[i * per_fold : (i + 1) * per_fold]) for i in range(6)]


def run_project(examples, folds, classes, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions of the chunk model trained with the defaults' recipe: the
    class of every clip and its arousal / valence / dominance ``[n, 3]``."""
    pred, avd = np.empty(len(examples), int), np.empty((len(examples), 3))
    for k, test in enumerate(folds):
        train_items = items_from_examples([e for e, t in zip(examples, test) if not t], classes, lambda e: e.raw_label)
        test_items = items_from_examples([e for e, t in zip(examples, test) if t], classes, lambda e: e.raw_label)
        # each corpus's own classes (EmoDB boredom, RAVDESS calm), no compounds
        config = ChunkModelConfig(
            audio_dim=train_items[0].audio.shape[1],
            audio_extractors=AUDIO_EXTRACTORS,
            labels=LabelSpace(basic=tuple(classes), compound=()),
        )
        model = train_audio(config, train_items, TrainConfig(epochs=epochs, seed=k))
        probs, avd[test] = predict_clips(model, test_items)
        pred[test] = probs.argmax(1)
        print(f"  project fold {k + 1}/{len(folds)} done", flush=True)
    return pred, avd


def _svm(c: float):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return make_pipeline(StandardScaler(), LinearSVC(C=c, class_weight="balanced", max_iter=20000))


def choose_c(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """The C with the best UAR in a speaker-grouped 3-fold cross-validation of ``x``."""
    from sklearn.model_selection import GroupKFold

    scores = {}
    for c in BASELINE_C:
        pred = np.empty(len(y), int)
        for train, test in GroupKFold(n_splits=3).split(x, y, groups):
            pred[test] = _svm(c).fit(x[train], y[train]).predict(x[test])
        scores[c] = uar_wa(y, pred)[0]
    return max(BASELINE_C, key=lambda c: scores[c])


def run_baseline(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold predictions of the baseline, and the C each fold chose on its training speakers."""
    pred, chosen = np.empty(len(y), int), []
    for test in folds:
        c = choose_c(x[~test], y[~test], groups[~test])
        pred[test] = _svm(c).fit(x[~test], y[~test]).predict(x[test])
        chosen.append(c)
    return pred, chosen


def per_speaker_z(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each speaker's features z-scored by that speaker's own statistics (no labels): the
    standard speaker normalisation, which a test speaker gets from their own recordings."""
    out = np.empty_like(x)
    for g in np.unique(groups):
        rows = groups == g
        out[rows] = (x[rows] - x[rows].mean(0)) / np.maximum(x[rows].std(0), 1e-8)
    return out


def face_fer2013(data_root: Path) -> dict:
    """The shipped face model on every FER2013 private-test face."""
    import cv2

    from emostudio.features.face_model import FER_CLASSES, load_expression_model, preprocess

    items = load_corpus("fer2013", data_root)
    model = load_expression_model()
    faces = np.stack([cv2.resize(cv2.imread(str(it.path), cv2.IMREAD_GRAYSCALE), (64, 64)) for it in items])
    truth = [FER_CLASSES.index(it.raw_label) for it in items]
    with torch.inference_mode():
        pred = np.concatenate(
            [model(preprocess(faces[i : i + 256])).argmax(-1).numpy() for i in range(0, len(faces), 256)]
        )
    uar, wa = uar_wa(truth, pred)
    return {"faces": len(items), "classes": len(FER_CLASSES), "uar": round(uar, 4), "wa": round(wa, 4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--cache", default=None, type=Path, help="feature cache (default: <data_dir>/cache/features)")
    parser.add_argument("--corpus", nargs="+", default=["emodb", "ravdess"])
    parser.add_argument("--epochs", default=TrainConfig.epochs, type=int)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cache = FeatureCache(args.cache or get_settings().cache_dir / "features")
    extractors = [get_extractor(n) for n in AUDIO_EXTRACTORS]
    baseline_extractor = ComParEFunctionals()
    figures = {"speech": {}, "epochs": args.epochs}
    for corpus in args.corpus:
        t0 = time.time()
        examples = load_speech_corpus(args.data, corpus, extractors, cache)
        baseline_x = np.concatenate(
            [
                cache.get(baseline_extractor, FeatureInput(media_for_path(it.path))).values
                for it in load_corpus(corpus, args.data)
            ]
        )
        classes = sorted({e.raw_label for e in examples})
        y = np.array([classes.index(e.raw_label) for e in examples])
        groups = np.array([e.group for e in examples])
        folds = folds_for(corpus, groups)
        print(
            f"{corpus}: {len(examples)} clips, {len(classes)} classes, {len(folds)} folds "
            f"(features ready in {time.time() - t0:.0f} s)",
            flush=True,
        )
        t1 = time.time()
        project_pred, project_avd = run_project(examples, folds, classes, args.epochs)
        project = uar_wa(y, project_pred)
        t2 = time.time()
        baseline_pred, chosen_c = run_baseline(baseline_x, y, groups, folds)
        baseline = uar_wa(y, baseline_pred)
        t3 = time.time()
        normalised_pred, normalised_c = run_baseline(per_speaker_z(baseline_x, groups), y, groups, folds)
        normalised = uar_wa(y, normalised_pred)
        figures["speech"][corpus] = {
            "clips": len(examples),
            "classes": len(classes),
            "folds": len(folds),
            "project": {
                "uar": round(project[0], 4),
                "wa": round(project[1], 4),
                "seconds": round(t2 - t1),
                # on the test folds, per true class (goal: happiness > 0 > anger, sadness, fear, disgust)
                "mean_valence": {c: round(float(project_avd[y == i, 1].mean()), 3) for i, c in enumerate(classes)},
                "mean_arousal": {c: round(float(project_avd[y == i, 0].mean()), 3) for i, c in enumerate(classes)},
            },
            "baseline": {
                "uar": round(baseline[0], 4),
                "wa": round(baseline[1], 4),
                "seconds": round(t3 - t2),
                "c_per_fold": chosen_c,
            },
            "baseline_speaker_normalised": {
                "uar": round(normalised[0], 4),
                "wa": round(normalised[1], 4),
                "c_per_fold": normalised_c,
            },
        }
    figures["face_fer2013_private_test"] = face_fer2013(args.data)
    print()
    print(f"{'corpus':10} {'system':52} {'UAR':>6} {'WA':>6} {'train+test s':>12}")
    for corpus, f in figures["speech"].items():
        for system, name in (("project", "chunk model (whisper+logmel+prosody)"), ("baseline", "ComParE_2016 + SVM")):
            r = f[system]
            print(f"{corpus:10} {system + ': ' + name:52} {r['uar']:6.3f} {r['wa']:6.3f} {r['seconds']:12.0f}")
        sn = f["baseline_speaker_normalised"]
        print(f"{corpus:10} {'baseline with per-speaker normalisation':52} {sn['uar']:6.3f} {sn['wa']:6.3f}")
        print(f"{corpus}: project - baseline = {100 * (f['project']['uar'] - f['baseline']['uar']):+.1f} UAR points")
        print(f"{corpus}: project - speaker-normalised baseline = {100 * (f['project']['uar'] - sn['uar']):+.1f}")
        valence = ", ".join(f"{c} {v:+.2f}" for c, v in f["project"]["mean_valence"].items())
        print(f"{corpus}: project mean valence per true class on the test folds: {valence}")
    face = figures.get("face_fer2013_private_test")
    if face:
        print(f"face model, FER2013 private test ({face['faces']} faces): UAR {face['uar']:.3f} WA {face['wa']:.3f}")
    print(f"wrote {write_results('accuracy', figures)}")


if __name__ == "__main__":
    main()
