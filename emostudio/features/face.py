"""Face extractor: OpenCV Haar face detection on sampled frames, the largest face
tracked from frame to frame, and FER2013 mini-Xception expression probabilities."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from emostudio.core.labels import BASIC
from emostudio.features.base import ExtractorUnavailable, FeatureExtractor, FeatureInput
from emostudio.features.face_model import (
    FER_CLASSES,
    FER_TO_BASIC,
    INPUT_SIZE,
    WEIGHTS,
    MiniXception,
    load_expression_model,
    preprocess,
)
from emostudio.media.decode import iter_frames

if TYPE_CHECKING:
    import torch

# Columns of the FER output in the studio's basic order (label matching before fusion).
FER_TO_BASIC_ORDER = [FER_CLASSES.index(next(k for k, v in FER_TO_BASIC.items() if v == b)) for b in BASIC]
DETECT_SIDE = 320  # detect on frames scaled to this longest side: faces stay >= ~40 px


@lru_cache(maxsize=1)
def face_detector():
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    detector = cv2.CascadeClassifier(path)
    if detector.empty():
        raise ExtractorUnavailable(f"OpenCV Haar cascade missing at {path} (needs opencv-python-headless<5)")
    return detector


@lru_cache(maxsize=1)
def expression_model() -> MiniXception:
    if not WEIGHTS.is_file():
        raise ExtractorUnavailable(f"the face model's weights are missing from the installation ({WEIGHTS.name})")
    from emostudio.core.config import torch_device

    return load_expression_model().to(torch_device())


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter)


def pick_face(boxes, previous):
    """The face overlapping the one tracked so far, else the largest: one speaker per clip."""
    if len(boxes) == 0:
        return None
    if previous is not None:
        overlaps = [_iou(b, previous) for b in boxes]
        if max(overlaps) > 0.3:
            return boxes[int(np.argmax(overlaps))]
    return max(boxes, key=lambda b: b[2] * b[3])


def detect_faces(rgb: np.ndarray, near=None) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(x, y, w, h)`` in the frame's own pixels.

    With ``near`` (the face tracked in the previous sample), only a region twice its
    size around it is searched, for faces at least half its size: the Haar cascade's
    cost grows with the area and the number of scales, and a talking face moves little.
    """
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    ox = oy = 0
    min_size = 24
    if near is not None:
        x, y, w, h = near
        ox, oy = max(0, x - w // 2), max(0, y - h // 2)
        grey = grey[oy : y + h + h // 2, ox : x + w + w // 2]
    scale = min(1.0, DETECT_SIDE / max(grey.shape))
    if near is not None:
        scale = min(1.0, 128 / max(near[2], near[3]))  # the face at ~64 px is plenty for Haar
        min_size = max(24, int(min(near[2], near[3]) * scale / 2))
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    small = cv2.equalizeHist(small)
    boxes = face_detector().detectMultiScale(small, scaleFactor=1.15, minNeighbors=5, minSize=(min_size, min_size))
    return [
        (
            int(round(b[0] / scale)) + ox,
            int(round(b[1] / scale)) + oy,
            int(round(b[2] / scale)),
            int(round(b[3] / scale)),
        )
        for b in boxes
    ]


def face_crop(rgb: np.ndarray, box) -> np.ndarray:
    """The face as the 64x64 grey crop the expression model expects."""
    import cv2

    x, y, w, h = box
    grey = cv2.cvtColor(rgb[y : y + h, x : x + w], cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)


class FaceExpression(FeatureExtractor):
    """Per sampled frame: the 7 basic-emotion probabilities of the tracked face, and
    whether a face was found (all zeros when not)."""

    name, modality, dim = "face-fer2013", "face", 8

    def __init__(self, fps: float = 4.0):
        if not WEIGHTS.is_file():
            raise ExtractorUnavailable(f"the face model's weights are missing from the installation ({WEIGHTS.name})")
        face_detector()  # the Haar cascade, or ExtractorUnavailable
        self.frame_rate = float(fps)

    def params(self) -> dict:
        import cv2

        return {"fps": self.frame_rate, "opencv": cv2.__version__}

    def weight_files(self) -> list:
        import cv2

        return [WEIGHTS, cv2.data.haarcascades + "haarcascade_frontalface_default.xml"]

    def tracked_faces(self, inputs: FeatureInput) -> tuple[int, list[np.ndarray], list[int]]:
        """The number of frames sampled, and the tracked face's crops with the frame each is from."""
        n = self.n_frames(inputs)
        crops, slots, previous = [], [], None
        for t, rgb in iter_frames(inputs.media.path, fps=self.frame_rate):
            box = pick_face(detect_faces(rgb, near=previous), previous) if previous is not None else None
            if box is None:  # nothing near the tracked face (or none yet): search the whole frame
                box = pick_face(detect_faces(rgb), previous)
            if box is None:
                continue
            previous = box
            crops.append(face_crop(rgb, box))
            slots.append(min(n - 1, int(t * self.frame_rate + 1e-6)))
        return n, crops, slots

    def describe(self, model: MiniXception, faces: torch.Tensor) -> torch.Tensor:
        """What this extractor says of each face: the 7 probabilities, in the studio's order."""
        return model(faces).softmax(-1)[:, FER_TO_BASIC_ORDER]

    def extract(self, inputs: FeatureInput) -> np.ndarray:
        import torch

        n, crops, slots = self.tracked_faces(inputs)
        out = np.zeros((n, self.dim), np.float32)
        if crops:
            with torch.inference_mode():
                model = expression_model()
                x = preprocess(np.stack(crops)).to(next(model.parameters()).device)
                out[slots, :-1] = self.describe(model, x).cpu().numpy()
            out[slots, -1] = 1.0
        return out


class FaceEmbedding(FaceExpression):
    """Per sampled frame: the expression model's 128-number embedding of the tracked face
    (what its classifier reads), and whether a face was found. Audio-visual alignment
    reads it: the 7 probabilities keep too little of the face to align with a voice."""

    name, modality, dim = "face-fer2013-embedding", "face", 129

    def describe(self, model: MiniXception, faces: torch.Tensor) -> torch.Tensor:
        return model.embed(faces)
