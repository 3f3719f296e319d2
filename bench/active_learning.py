"""Which clips to label first? The studio's uncertainty queue against random picks:

    python -m bench.active_learning [--data ../shared/data]

A model trained on EmoDB (German) meets RAVDESS (English). RAVDESS's actors are split:
every sixth actor is held out for testing, the others' clips form the pool nobody has
labelled yet. Labels are revealed for N clips of the pool (N = 25, 50, 100, 200), picked
by the uncertainty queue's orders (``uncertainty_queue``: margin, top-1 minus top-2
probability under the current model, smallest first; entropy, largest first; balanced,
margin taking turns across the predicted emotions) or at random (three draws), and the
model is fine-tuned on them with the fine-tuning job's defaults (``FinetuneOptions``).
Figure: UAR on the held-out actors against N. Goal (issue 12): the queue reaches
random's N=200 UAR with half the labels.

The order the studio offers first is chosen on the other direction (a RAVDESS model
meeting EmoDB, every sixth EmoDB speaker held out): the best mean UAR over the budgets.

Writes ``bench/results/active_learning.json``.
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from pathlib import Path

import numpy as np
import torch

from bench.results import write_results
from emostudio.core.config import get_settings
from emostudio.core.domain import Prediction
from emostudio.core.labels import BASIC, avd_prototype
from emostudio.features import FeatureCache, get_extractor
from emostudio.model.network import ChunkModelConfig
from emostudio.services.annotate import DEFAULT_ORDER, balanced_order
from emostudio.services.training import FinetuneOptions
from emostudio.trainers.corpora import load_speech_corpus
from emostudio.trainers.defaults import AUDIO_EXTRACTORS
from emostudio.trainers.supervised import TrainConfig, TrainItem, predict_audio, train_audio, uar_wa

BUDGETS = (25, 50, 100, 200)
RANDOM_DRAWS = 3


def _items(examples) -> list[TrainItem]:
    return [
        TrainItem(e.inputs.audio, BASIC.index(e.label), avd_prototype(e.raw_label), group=e.group) for e in examples
    ]


def _uar(model, items) -> float:
    return uar_wa([it.label for it in items], predict_audio(model, items).argmax(1))[0]


def _finetune(base, items, seed: int):
    options = FinetuneOptions()
    config = TrainConfig(epochs=options.epochs, lr=options.lr, seed=seed)
    return train_audio(base.config, items, config, model=copy.deepcopy(base))


def direction(data, source: str, target: str, extractors, cache, epochs: int) -> dict:
    """A ``source`` model; ``target``'s speakers split into a pool and held-out ones (every
    sixth); UAR on the held-out ones after fine-tuning on N pool clips picked each way."""
    t0 = time.time()
    torch.manual_seed(0)
    trained_on = load_speech_corpus(data, source, extractors, cache)
    met = load_speech_corpus(data, target, extractors, cache)
    speakers = sorted({e.group for e in met})
    held = set(speakers[::6])
    pool, test = _items([e for e in met if e.group not in held]), _items([e for e in met if e.group in held])
    config = ChunkModelConfig(audio_dim=trained_on[0].inputs.audio.shape[1], audio_extractors=AUDIO_EXTRACTORS)
    base = train_audio(config, _items(trained_on), TrainConfig(epochs=epochs))
    probs = predict_audio(base, pool)
    predictions = [Prediction(None, "", "", "", "clip", 0.0, 0.0, basic=dict(zip(BASIC, map(float, p)))) for p in probs]
    queues = {
        "margin": sorted(range(len(pool)), key=lambda i: predictions[i].margin),
        "entropy": sorted(range(len(pool)), key=lambda i: -predictions[i].entropy),
        "balanced": balanced_order(predictions),
    }
    figures = {
        "pool_clips": len(pool),
        "test_clips": len(test),
        "held_out_speakers": sorted(held),
        "base_uar": round(_uar(base, test), 4),
        "budgets": list(BUDGETS),
        "uar": {name: {} for name in [*queues, "random"]},
    }
    print(f"{source} model on the held-out {target} speakers: UAR {figures['base_uar']:.3f}", flush=True)
    for n in BUDGETS:
        for name, order in queues.items():
            figures["uar"][name][n] = round(_uar(_finetune(base, [pool[i] for i in order[:n]], 0), test), 4)
        draws = []
        for seed in range(RANDOM_DRAWS):
            picked = random.Random(seed).sample(range(len(pool)), n)
            draws.append(_uar(_finetune(base, [pool[i] for i in picked], seed), test))
        figures["uar"]["random"][n] = round(float(np.mean(draws)), 4)
        print(f"N={n}: " + ", ".join(f"{k} {v[n]:.3f}" for k, v in figures["uar"].items()), flush=True)
    goal = figures["uar"]["random"][BUDGETS[-1]]
    figures["queue_reaches_random_at_200_with"] = {
        name: next((n for n in BUDGETS if figures["uar"][name][n] >= goal), None) for name in queues
    }
    figures["seconds"] = round(time.time() - t0)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--cache", default=None, type=Path, help="feature cache (default: <data_dir>/cache/features)")
    parser.add_argument("--epochs", default=TrainConfig.epochs, type=int, help="epochs of the source model")
    args = parser.parse_args(argv)
    cache = FeatureCache(args.cache or get_settings().cache_dir / "features")
    extractors = [get_extractor(n) for n in AUDIO_EXTRACTORS]
    # the queue is chosen on the development direction: the best mean UAR over the budgets
    dev = direction(args.data, "ravdess", "emodb", extractors, cache, args.epochs)
    candidates = [name for name in dev["uar"] if name != "random"]
    chosen = max(candidates, key=lambda name: np.mean(list(dev["uar"][name].values())))
    figures = direction(args.data, "emodb", "ravdess", extractors, cache, args.epochs)
    figures["development"] = {"direction": "ravdess->emodb", **dev}
    figures["chosen"] = chosen
    figures["studio_default"] = chosen == DEFAULT_ORDER
    goal = figures["uar"]["random"][BUDGETS[-1]]
    print()
    print(f"{'N':>5} " + " ".join(f"{k:>8}" for k in figures["uar"]))
    for n in BUDGETS:
        print(f"{n:5d} " + " ".join(f"{figures['uar'][k][n]:8.3f}" for k in figures["uar"]))
    print(
        f"chosen on RAVDESS -> EmoDB: {chosen}. Random's N={BUDGETS[-1]} UAR {goal:.3f} reached by: "
        + ", ".join(
            f"{k} at N={v}" if v else f"{k} never" for k, v in figures["queue_reaches_random_at_200_with"].items()
        )
        + f" (goal: N <= {BUDGETS[-1] // 2})"
    )
    print(f"wrote {write_results('active_learning', figures)}")


if __name__ == "__main__":
    main()
