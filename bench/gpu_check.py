"""Does the ``device`` setting put the studio's torch models on a GPU, and do they agree
with the CPU there? Run on a machine with CUDA:

    EMOSTUDIO_DEVICE=auto python -m bench.gpu_check

It checks, with the shipped weights: the chunk emotion model (GPU outputs = CPU outputs),
the face-expression model (likewise), and a supervised training run placed by the
setting (it trains on the GPU and hands back a CPU model), timing the training on both.
Writes ``bench/results/gpu_check.json``.
"""

from __future__ import annotations

import time

import numpy as np
import torch


def main() -> None:
    from bench.results import write_results
    from emostudio.core.config import torch_device
    from emostudio.features.face_model import load_expression_model, preprocess
    from emostudio.model.network import ModelInputs, default_model_path, load_model

    try:
        from emostudio.trainers.supervised import TrainConfig, TrainItem, train_audio
    except ModuleNotFoundError:  # a source checkout without the package installed (the GPU machine)
        from trainers.supervised import TrainConfig, TrainItem, train_audio

    device = torch_device()
    figures: dict = {"device": str(device), "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None}
    torch.manual_seed(0)

    model = load_model(default_model_path())
    inputs = ModelInputs.of(audio=torch.randn(1, 240, model.config.audio_dim), text=torch.randn(1, 240, 385))
    with torch.inference_mode():
        cpu = model(inputs)
        gpu = model.to(device)(inputs.to(device)).to("cpu")
    figures["chunk_model_max_abs_diff"] = float((cpu.chunk_log_probs - gpu.chunk_log_probs).abs().max())
    figures["chunk_model_on"] = str(next(model.parameters()).device)

    faces = np.random.default_rng(0).integers(0, 255, (16, 64, 64), dtype=np.uint8)
    face = load_expression_model()
    with torch.inference_mode():
        cpu_p = face(preprocess(faces)).softmax(-1)
        gpu_p = face.to(device)(preprocess(faces).to(device)).softmax(-1).cpu()
    figures["face_model_max_abs_diff"] = float((cpu_p - gpu_p).abs().max())

    rng = np.random.default_rng(0)
    items = [
        TrainItem(
            rng.normal(size=(rng.integers(20, 80), 64)).astype(np.float32) + (k % 7) * 0.1, k % 7, (0.0, 0.0, 0.0)
        )
        for k in range(512)
    ]
    from emostudio.model.network import ChunkModelConfig

    for where in ("cpu", None):  # None: the device setting decides
        start = time.perf_counter()
        trained = train_audio(ChunkModelConfig(audio_dim=64), items, TrainConfig(epochs=3, device=where))
        figures[f"train_seconds_{where or 'setting'}"] = round(time.perf_counter() - start, 2)
        figures[f"trained_model_returned_on_{where or 'setting'}"] = str(next(trained.parameters()).device)
    print(figures)
    print(write_results("gpu_check", figures))


if __name__ == "__main__":
    main()
