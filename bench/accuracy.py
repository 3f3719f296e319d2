"""Speaker-independent accuracy: the project's chunk model against the classic baseline.

    python -m bench.accuracy [--data ../shared/data] [--corpus emodb ravdess]

Both systems run on the same folds, with each corpus's own classes:
- EmoDB, leave-one-speaker-out (10 folds), 7 classes;
- RAVDESS speech, actor-independent 6-fold (actors 1-4, 5-8, ...), 8 classes.

(a) project: the chunk model (Whisper tiny.en encoder + log-mel + prosody, pooled over
    multi-scale windows, attention pooling to the clip), trained per fold with the
    recipe that trains the shipped defaults;
(b) baseline: openSMILE ComParE_2016 functionals + standardised, class-balanced
    linear SVM. Its C is the best of a small grid on the test folds themselves, which
    flatters the baseline: the comparison is conservative.

Prints UAR (mean per-class recall) and WA (accuracy) per system and corpus.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from emostudio.core.labels import LabelSpace
from emostudio.features import FeatureCache, FeatureExtractor, FeatureInput, get_extractor
from emostudio.media.recipes import load_corpus
from emostudio.model.network import ChunkModelConfig
from emostudio.services.analysis import media_for_path
from emostudio.trainers.corpora import load_speech_corpus
from emostudio.trainers.defaults import AUDIO_EXTRACTORS
from emostudio.trainers.supervised import TrainConfig, items_from_examples, predict_audio, train_audio, uar_wa

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


def run_project(examples, folds, classes, epochs: int) -> np.ndarray:
    pred = np.empty(len(examples), int)
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
        pred[test] = predict_audio(model, test_items).argmax(1)
        print(f"  project fold {k + 1}/{len(folds)} done", flush=True)
    return pred


def run_baseline(x: np.ndarray, y: np.ndarray, folds) -> tuple[float, np.ndarray]:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    best = None
    for c in BASELINE_C:
        pred = np.empty(len(y), int)
        for test in folds:
            svm = make_pipeline(StandardScaler(), LinearSVC(C=c, class_weight="balanced", max_iter=20000))
            pred[test] = svm.fit(x[~test], y[~test]).predict(x[test])
        if best is None or uar_wa(y, pred)[0] > uar_wa(y, best[1])[0]:
            best = (c, pred)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--cache", default=Path.home() / ".cache/emostudio/bench", type=Path)
    parser.add_argument("--corpus", nargs="+", default=["emodb", "ravdess"])
    parser.add_argument("--epochs", default=30, type=int)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cache = FeatureCache(args.cache)
    extractors = [get_extractor(n) for n in AUDIO_EXTRACTORS]
    baseline_extractor = ComParEFunctionals()
    results = []
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
        folds = folds_for(corpus, np.array([e.group for e in examples]))
        print(
            f"{corpus}: {len(examples)} clips, {len(classes)} classes, {len(folds)} folds "
            f"(features ready in {time.time() - t0:.0f} s)",
            flush=True,
        )
        t1 = time.time()
        project = uar_wa(y, run_project(examples, folds, classes, args.epochs))
        t2 = time.time()
        c, baseline_pred = run_baseline(baseline_x, y, folds)
        baseline = uar_wa(y, baseline_pred)
        t3 = time.time()
        results.append((corpus, "project: chunk model (whisper+logmel+prosody)", *project, t2 - t1))
        results.append((corpus, f"baseline: ComParE_2016 + linear SVM (C={c:g})", *baseline, t3 - t2))
    print()
    print(f"{'corpus':16} {'system':52} {'UAR':>6} {'WA':>6} {'train+test s':>12}")
    for corpus, system, uar, wa, seconds in results:
        print(f"{corpus:16} {system:52} {uar:6.3f} {wa:6.3f} {seconds:12.0f}")
    for i in range(0, len(results), 2):
        print(f"{results[i][0]}: project - baseline = {100 * (results[i][2] - results[i + 1][2]):+.1f} UAR points")


if __name__ == "__main__":
    main()
