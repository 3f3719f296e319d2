"""Face thumbnails the Inspect page shows for a video, saved once at analysis time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emostudio.core.domain import Media
from emostudio.features.base import Features
from emostudio.media.decode import MediaError, iter_frames

THUMBNAILS = 8
SIDE = 112


def thumbnail_dir(root: Path, media: Media) -> Path:
    return Path(root) / media.content_hash


def saved_thumbnails(root: Path | None, media: Media) -> list[tuple[str, float]]:
    """``(path, time)`` of the thumbnails saved for a media, in time order."""
    if root is None:
        return []
    folder = thumbnail_dir(root, media)
    found = [(str(p), float(p.stem)) for p in folder.glob("*.jpg")] if folder.is_dir() else []
    return sorted(found, key=lambda x: x[1])


def save_face_thumbnails(root: Path, media: Media, faces: Features, count: int = THUMBNAILS) -> list[tuple[str, float]]:
    """Crop the tracked face at ``count`` moments spread over the frames where one was
    found (the face extractor's last column) and save them as JPEGs named by time."""
    import cv2

    from emostudio.features.face import detect_faces

    existing = saved_thumbnails(root, media)
    if existing:
        return existing
    present = np.flatnonzero(faces.values[:, -1] > 0)
    if len(present) == 0:
        return []
    picks = present[np.unique(np.linspace(0, len(present) - 1, min(count, len(present))).round().astype(int))]
    folder = thumbnail_dir(root, media)
    folder.mkdir(parents=True, exist_ok=True)
    for k in picks:
        t = k / faces.frame_rate
        try:
            frame = next(iter_frames(media.path, fps=faces.frame_rate, start=t, duration=1.0 / faces.frame_rate), None)
        except MediaError:
            continue
        if frame is None:
            continue
        rgb = frame[1]
        boxes = detect_faces(rgb)
        if not boxes:
            continue
        x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
        pad = w // 5  # a little context around the face reads better than a tight crop
        crop = rgb[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]
        crop = cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"{frame[0]:.2f}.jpg"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return saved_thumbnails(root, media)
