"""Do chunk rankers make the curves follow emotion changes? With and without their
target curves, in one run:

    python -m bench.rankers [--data ../shared/data]

The chunk model is trained on RAVDESS (the six classes EmoDB shares) twice with the same
seed: on the clip labels alone (the defaults' recipe), and with the rankers' per-chunk
A/V/D target curves (``trainers.rankers.with_ranker_curves``). Both analyse sequences of
six EmoDB clips of six emotions by one speaker, joined with 0.3 s pauses (the
curve-tracking set of ``bench.generalisation``). Figures: per-chunk accuracy, the share
of boundaries where the top class switches to the new one within 1 s, and the CCC of the
per-chunk arousal and valence curves against the step curve of each clip's class
prototype (chunks in pauses left out). No corpus here has continuous human traces, so
CCC against people's traces is missing.

Writes ``bench/results/rankers.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from bench.generalisation import COMMON, PAUSE, SWITCH_WITHIN, _items, build_sequences
from bench.results import write_results
from emostudio.core.config import get_settings
from emostudio.core.labels import LabelSpace, avd_prototype
from emostudio.core.timegrid import CHUNKS
from emostudio.features import FeatureCache, get_extractor
from emostudio.media.decode import SAMPLE_RATE, load_audio
from emostudio.media.recipes import load_corpus
from emostudio.model.chunk_inputs import build_chunk_inputs
from emostudio.model.network import ChunkModelConfig, ModelInputs
from emostudio.services.analysis import audio_features, media_for_path
from emostudio.trainers.corpora import load_speech_corpus
from emostudio.trainers.defaults import AUDIO_EXTRACTORS
from emostudio.trainers.labelled import concordance
from emostudio.trainers.rankers import with_ranker_curves
from emostudio.trainers.supervised import TrainConfig, train_audio


@torch.inference_mode()
def tracking(model, sequences, extractors, cache, workdir: Path) -> dict:
    hits, switched, boundaries = [], 0, 0
    avd_pred, avd_true = [], []
    for k, seq in enumerate(sequences):
        pieces, spans, t = [], [], 0.0
        for item, c in seq:
            audio = load_audio(item.path)
            pieces += [audio, np.zeros(int(PAUSE * SAMPLE_RATE), np.float32)]
            spans.append((t, t + len(audio) / SAMPLE_RATE, c, avd_prototype(item.raw_label)))
            t += len(audio) / SAMPLE_RATE + PAUSE
        path = workdir / f"sequence_{k}.wav"
        sf.write(path, np.concatenate(pieces), SAMPLE_RATE)
        media = media_for_path(path)
        chunks = CHUNKS.chunks(media.duration)
        x = build_chunk_inputs(chunks, audio=audio_features(media, extractors, cache)).audio
        out = model(ModelInputs.of(audio=torch.from_numpy(x)[None]))
        pred, avd = out.chunk_log_probs[0].argmax(-1).numpy(), out.chunk_avd[0].numpy()
        centres = np.array([ch.center for ch in chunks])
        for i, (lo, hi, c, proto) in enumerate(spans):
            inside = (centres >= lo) & (centres < hi)
            hits += list(pred[inside] == c)
            avd_pred.append(avd[inside])
            avd_true.append(np.tile(proto, (int(inside.sum()), 1)))
            if i:
                boundaries += 1
                after = np.flatnonzero((centres >= lo) & (centres < min(hi, lo + SWITCH_WITHIN)))
                switched += any(pred[j] == c for j in after)
    p, y = np.concatenate(avd_pred), np.concatenate(avd_true)
    return {
        "sequences": len(sequences),
        "chunk_accuracy": round(float(np.mean(hits)), 4),
        "switch_share": round(switched / max(boundaries, 1), 4),
        "ccc_arousal": round(concordance(p[:, 0], y[:, 0]), 4),
        "ccc_valence": round(concordance(p[:, 1], y[:, 1]), 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--cache", default=None, type=Path, help="feature cache (default: <data_dir>/cache/features)")
    parser.add_argument("--epochs", default=TrainConfig.epochs, type=int)
    args = parser.parse_args(argv)
    t0 = time.time()
    cache = FeatureCache(args.cache or get_settings().cache_dir / "features")
    extractors = [get_extractor(n) for n in AUDIO_EXTRACTORS]
    train = _items([e for e in load_speech_corpus(args.data, "ravdess", extractors, cache) if e.label in COMMON])
    config = ChunkModelConfig(
        audio_dim=train[0].audio.shape[1],
        audio_extractors=AUDIO_EXTRACTORS,
        labels=LabelSpace(basic=COMMON, compound=()),
    )
    sequences = build_sequences([it for it in load_corpus("emodb", args.data) if it.label in COMMON], seed=0)
    figures = {"train": "ravdess", "sequences_of": "emodb", "epochs": args.epochs, "systems": {}}
    with tempfile.TemporaryDirectory(prefix="emostudio-rankers-") as tmp:
        for name, items in (("clip labels", train), ("clip labels + ranker curves", with_ranker_curves(train))):
            torch.manual_seed(0)
            model = train_audio(config, items, TrainConfig(epochs=args.epochs))
            figures["systems"][name] = tracking(model, sequences, extractors, cache, Path(tmp))
            print(f"{name}: {figures['systems'][name]}", flush=True)
    figures["seconds"] = round(time.time() - t0)
    print()
    print(f"{'trained on':30} {'chunk acc':>9} {'switch':>7} {'CCC A':>6} {'CCC V':>6}")
    for name, f in figures["systems"].items():
        print(
            f"{name:30} {f['chunk_accuracy']:9.3f} {f['switch_share']:7.2f} {f['ccc_arousal']:6.3f} {f['ccc_valence']:6.3f}"
        )
    print(f"wrote {write_results('rankers', figures)}")


if __name__ == "__main__":
    main()
