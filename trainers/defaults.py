"""Retrain the shipped default model from ``../shared/data``, measuring every figure it
records.

    python -m emostudio.trainers.defaults --data ../shared/data --out emostudio/model/default

- Audio: the chunk model on EmoDB + RAVDESS speech (classes mapped to the basic label
  space, see ``emostudio.core.labels``). Its number of epochs is chosen on development
  speakers (every 5th speaker of each corpus, trained on the others); the shipped
  weights are then trained on every speaker for that many epochs.
- Text: the text head on MELD train; its sentence encoder (multilingual USE v3 or the
  English MiniLM) and epochs chosen on MELD dev; MELD test is scored once, for the
  model card, and chooses nothing.
- Face: the FER2013 mini-Xception port, used as is; scored on the labelled talking-face
  clips of CREMA-D and MEAD (none of them is a benchmark test set here).
- Audio calibration: the temperature that minimises the development clips' negative
  log-likelihood (ECE reported before and after).
- Fusion: the shares of the linear pool, fitted on paired development examples (an
  audio clip of a development speaker, a MELD dev utterance, a talking-face clip, one
  emotion; see ``emostudio.trainers.fusion``).

Every figure goes into the model's ``config.json`` (``metrics``) with the command, the
commit, the machine and the date; the model card quotes them through ``bench.readme``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from emostudio.core.config import get_settings
from emostudio.core.labels import BASIC
from emostudio.core.provenance import provenance
from emostudio.features import FeatureCache, get_extractor
from emostudio.media.decode import MediaError
from emostudio.media.recipes import load_corpus
from emostudio.model.network import MODALITIES, ChunkEmotionModel, ChunkModelConfig, default_model_path, save_model
from emostudio.services.analysis import Analyzer, media_for_path
from emostudio.trainers.corpora import Example, load_meld_text, load_speech_corpus
from emostudio.trainers.fusion import DevelopmentScores, fit_fusion_logits, fused_predictions, paired_examples
from emostudio.trainers.supervised import (
    TrainConfig,
    fit_temperature,
    items_from_examples,
    predict_audio,
    train_audio,
    train_text,
    uar_wa,
)

AUDIO_EXTRACTORS = ("whisper-tiny.en", "logmel", "prosody")
DEV_EVERY = 5
"""Every 5th speaker of each corpus (in the corpus's own order) is a development speaker."""
AUDIO_EPOCHS = (10, 20, 30, 45)
TEXT_EPOCHS = (4, 8, 16)
TEXT_ENCODERS = ("text-use-m3", "text-minilm")
"""Candidate sentence encoders, the multilingual one first (it wins ties)."""
FACE_DEV_CORPORA = ("cremad", "mead")
VIDEO_SUFFIXES = (".flv", ".mp4", ".avi", ".mov", ".mkv", ".webm")


def uar_above_chance_logits(uars: dict[str, float], n_classes: int = len(BASIC)) -> np.ndarray:
    """Weights proportional to each modality's UAR above chance, as logits: how the
    fusion was weighed before it was fitted (kept to compare with)."""
    chance = 1.0 / n_classes
    weights = np.array([max(uars[m] - chance, 0.01) for m in MODALITIES])
    return np.log(weights / weights.sum())


def fit_fusion(model, dev: dict[str, DevelopmentScores], dev_uars: dict[str, float]) -> dict:
    """Set the model's fusion shares from paired development examples; returns the figures
    for the model card: on the pairs where audio and at least one other modality are
    present, and on those with all three, the UAR of the fitted mixture, of the weighted
    product it replaces (with the weights it had), and of the audio alone."""
    probs, present, labels = paired_examples(dev, len(BASIC))
    logits = fit_fusion_logits(probs, present, labels)
    with torch.no_grad():
        model.fusion_logits.copy_(torch.from_numpy(logits).float())
    before = uar_above_chance_logits(dev_uars)
    mixture = fused_predictions(probs, present, logits).argmax(1)
    product = fused_predictions(probs, present, before, "log-linear").argmax(1)
    audio = probs[:, MODALITIES.index("audio")].argmax(1)
    figures = {"pairs": len(labels), "mixture_uar": round(uar_wa(labels, mixture)[0], 4)}
    subsets = {
        "audio_and_another": present[:, 0] & present[:, 1:].any(1),
        "all_three": present.all(1),
    }
    for name, rows in subsets.items():
        figures[name] = {"pairs": int(rows.sum())} | {
            system: round(uar_wa(labels[rows], pred[rows])[0], 4)
            for system, pred in (("mixture", mixture), ("product", product), ("audio_alone", audio))
        }
    return figures


def _speaker_order(group: str):
    speaker = group.split(":", 1)[1]
    return (0, int(speaker), "") if speaker.isdigit() else (1, 0, speaker)


def development_speakers(groups) -> list[str]:
    """Every ``DEV_EVERY``-th speaker of each corpus, starting with the first."""
    by_corpus = defaultdict(set)
    for g in groups:
        by_corpus[g.split(":", 1)[0]].add(g)
    return sorted(s for speakers in by_corpus.values() for s in sorted(speakers, key=_speaker_order)[::DEV_EVERY])


def choose_audio_epochs(
    config: ChunkModelConfig, examples: list[Example], dev: set[str]
) -> tuple[int, dict, tuple[float, float, float], DevelopmentScores]:
    """The epoch count with the best UAR on the development speakers (fewer on a tie), the
    audio temperature that calibrates that model on them (temperature, ECE before, after),
    and that calibrated model's probabilities on them (for fitting the fusion)."""
    train = items_from_examples([e for e in examples if e.group not in dev], BASIC)
    held = [e for e in examples if e.group in dev]
    held_items, truth = items_from_examples(held, BASIC), [BASIC.index(e.label) for e in held]
    scores, models = {}, {}
    for epochs in AUDIO_EPOCHS:
        models[epochs] = train_audio(config, train, TrainConfig(epochs=epochs))
        scores[epochs] = uar_wa(truth, predict_audio(models[epochs], held_items).argmax(1))[0]
        print(f"audio, {epochs} epochs: development UAR {scores[epochs]:.3f}", flush=True)
    best = max(AUDIO_EPOCHS, key=lambda e: (round(scores[e], 4), -e))
    calibration = fit_temperature(models[best], held_items)
    print(f"audio temperature {calibration[0]:.2f}: development ECE {calibration[1]:.3f} -> {calibration[2]:.3f}")
    dev_scores = DevelopmentScores(predict_audio(models[best], held_items), np.array(truth))
    return best, scores, calibration, dev_scores


@dataclass
class TextChoice:
    """The sentence encoder and epoch count the text head trains with, chosen on MELD dev,
    and MELD's embeddings under that encoder (labels as indices in ``BASIC``)."""

    extractor: str
    epochs: int
    scores: dict[str, dict[int, float]]  # MELD dev UAR per encoder and epoch count
    meld: dict[str, tuple[np.ndarray, list[int]]]  # split -> (embeddings, labels)


def choose_text(data_root: Path) -> TextChoice:
    """The (encoder, epochs) with the best MELD dev UAR; on a tie the multilingual encoder
    (it lets transcripts in 16 languages vote) and fewer epochs."""

    def embedded(name: str, split: str) -> tuple[np.ndarray, list[int]]:
        x, labels = load_meld_text(data_root, split, get_extractor(name).embed)
        return x, [BASIC.index(y) for y in labels]

    scores, meld, best = {}, {}, None
    for name in TEXT_ENCODERS:
        extractor = get_extractor(name)
        splits = {split: embedded(name, split) for split in ("train", "dev")}
        meld[name], scores[name] = splits, {}
        (train_x, train_y), (dev_x, dev_y) = splits["train"], splits["dev"]
        for epochs in TEXT_EPOCHS:
            torch.manual_seed(0)
            probe = ChunkEmotionModel(ChunkModelConfig(text_extractor=name, text_dim=extractor.dim - 1))
            head = train_text(probe, train_x, train_y, epochs=epochs)
            with torch.inference_mode():
                pred = head.text_head(torch.from_numpy(dev_x)).argmax(-1).numpy()
            scores[name][epochs] = uar_wa(dev_y, pred)[0]
            print(f"text ({name}), {epochs} epochs: MELD dev UAR {scores[name][epochs]:.3f}", flush=True)
            key = (round(scores[name][epochs], 4), -TEXT_ENCODERS.index(name), -epochs)
            if best is None or key > best[0]:
                best = (key, name, epochs)
    _, name, epochs = best
    meld[name]["test"] = embedded(name, "test")  # scored once, for the model card, with the chosen encoder only
    return TextChoice(name, epochs, scores, meld[name])


def face_development_scores(model, data_root: Path, cache: FeatureCache) -> DevelopmentScores:
    """The face branch's clip probabilities on the labelled talking-face clips where it found a face."""
    analyzer = Analyzer(model, "development", cache, modalities=("face",), asr=False)
    truth, probs = [], []
    items = [it for c in FACE_DEV_CORPORA for it in load_corpus(c, data_root) if it.path.suffix in VIDEO_SUFFIXES]
    for item in tqdm(items, desc="face (development clips)", unit="clip"):
        try:
            face = analyzer.analyze(media_for_path(item.path)).clip.modalities.get("face")
        except MediaError as err:
            print(f"skipped {err}")
            continue
        if face is None:
            continue  # no face found: the clip says nothing about the face model
        truth.append(BASIC.index(item.label))
        probs.append([face[c] for c in BASIC])
    return DevelopmentScores(np.array(probs, np.float32), np.array(truth))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--out", default=default_model_path(), type=Path)
    parser.add_argument("--cache", default=None, type=Path, help="feature cache (default: <data_dir>/cache/features)")
    parser.add_argument("--limit", default=None, type=int, help="clips per corpus (smoke runs)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cache = FeatureCache(args.cache or get_settings().cache_dir / "features")
    extractors = [get_extractor(n) for n in AUDIO_EXTRACTORS]
    examples = []
    for corpus in ("emodb", "ravdess"):
        examples += load_speech_corpus(args.data, corpus, extractors, cache, limit=args.limit)
    text = choose_text(args.data)
    print(f"text: {text.extractor}, {text.epochs} epochs", flush=True)
    (train_x, train_y), (dev_x, dev_y), (test_x, test_y) = (text.meld[s] for s in ("train", "dev", "test"))
    config = ChunkModelConfig(
        audio_dim=examples[0].inputs.audio.shape[1],
        audio_extractors=AUDIO_EXTRACTORS,
        text_extractor=text.extractor,
        text_dim=train_x.shape[1],
    )
    dev = development_speakers(e.group for e in examples)
    print(f"audio: {len(examples)} clips; development speakers {', '.join(dev)}", flush=True)
    audio_epochs, audio_scores, (temperature, ece_before, ece_after), audio_dev = choose_audio_epochs(
        config, examples, set(dev)
    )
    config.audio_temperature = temperature

    def log(step, completed=None, total=None, metrics=None, **_):
        if metrics:  # the loop also reports every step; print the epochs
            print(f"{step} {completed}/{total} {json.dumps(metrics)}", flush=True)

    model = train_audio(config, items_from_examples(examples, BASIC), TrainConfig(epochs=audio_epochs), hook=log)

    model = train_text(model, train_x, train_y, epochs=text.epochs, hook=log)
    with torch.inference_mode():
        pred = model.text_head(torch.from_numpy(test_x)).argmax(-1).numpy()
    text_uar, text_wa = uar_wa(test_y, pred)
    majority_wa = float(np.mean(np.asarray(test_y) == np.bincount(train_y).argmax()))
    print(f"text (MELD test, {len(test_y)} utterances): UAR {text_uar:.3f} WA {text_wa:.3f}")

    face_dev = face_development_scores(model, args.data, cache)
    face_uar, face_clips = uar_wa(face_dev.labels, face_dev.probs.argmax(1))[0], len(face_dev.labels)
    print(f"face ({face_clips} CREMA-D / MEAD clips with a face): UAR {face_uar:.3f}")
    dev_uars = {"audio": audio_scores[audio_epochs], "face": face_uar, "text": text.scores[text.extractor][text.epochs]}
    with torch.inference_mode():
        text_dev = DevelopmentScores(model.text_head(torch.from_numpy(dev_x)).softmax(-1).numpy(), np.array(dev_y))
    fusion = fit_fusion(model, {"audio": audio_dev, "face": face_dev, "text": text_dev}, dev_uars)
    print(f"fusion on {fusion['pairs']} paired development examples: {json.dumps(fusion)}")
    share = torch.softmax(model.fusion_logits, 0).tolist()
    model.config.metrics = {
        "audio_dev_uar": round(dev_uars["audio"], 4),
        "face_dev_uar": round(face_uar, 4),
        "text_dev_uar": round(dev_uars["text"], 4),
        "meld_test_text_uar": round(text_uar, 4),
        "meld_test_text_wa": round(text_wa, 4),
        "meld_test_majority_wa": round(majority_wa, 4),
        "fusion_weights": dict(zip(MODALITIES, [round(w, 3) for w in share])),
        "fusion_dev": fusion,
        "audio_epochs": audio_epochs,
        "audio_temperature": round(temperature, 3),
        "audio_dev_ece": round(ece_after, 4),
        "audio_dev_ece_uncalibrated": round(ece_before, 4),
        "text_encoder": text.extractor,
        "text_epochs": text.epochs,
        "training_clips": len(examples),
        "selection": {
            "development_speakers": dev,
            "development_clips": sum(e.group in set(dev) for e in examples),
            "audio_dev_uar_by_epochs": {str(e): round(u, 4) for e, u in audio_scores.items()},
            "text_dev_uar_by_encoder_and_epochs": {
                name: {str(e): round(u, 4) for e, u in by_epochs.items()} for name, by_epochs in text.scores.items()
            },
            "face_dev_clips": face_clips,
            "meld_sizes": {"train": len(train_y), "dev": len(dev_y), "test": len(test_y)},
        },
        "provenance": provenance("emostudio.trainers.defaults"),
    }
    save_model(model, args.out)
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1e6
    print(f"saved {args.out} ({size:.1f} MB); fusion weights {model.config.metrics['fusion_weights']}")


if __name__ == "__main__":
    main()
