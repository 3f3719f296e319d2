"""Label files: CSV (``path,emotion[,arousal,valence,dominance,speaker]``, header required)
and the Kaldi-style ``.scp`` list (``utt_id path label`` per line).

Relative paths are relative to the label file's folder. Each bad line yields a
one-line error naming the file and line; the good lines are still returned.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from emostudio.labels import UnknownLabelError, canonical_label

# Accepted header names for each field, first match wins (corpora name them differently).
PATH_COLUMNS = ("path", "file", "filename")
LABEL_COLUMNS = ("emotion", "label", "intended_emotion")
SPEAKER_COLUMNS = ("speaker", "actor", "speaker_id")
DIMENSIONS = ("arousal", "valence", "dominance")


@dataclass(frozen=True)
class LabelRow:
    path: Path
    label: str | None
    raw_label: str | None
    origin: str
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None
    speaker: str | None = None
    utt_id: str | None = None


class LabelFileError(Exception):
    pass


def read_label_file(path: str | Path) -> tuple[list[LabelRow], list[str]]:
    """Parse a label file; returns the good rows and one error line per bad row."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"{path}: label file not found")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LabelFileError(
            f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start}); re-save it as UTF-8"
        ) from None
    if path.suffix.lower() == ".scp":
        return _read_scp(path, text)
    return _read_csv(path, text)


def _read_csv(path: Path, text: str) -> tuple[list[LabelRow], list[str]]:
    reader = csv.DictReader(text.splitlines())
    header = {h.strip().lower(): h for h in reader.fieldnames or []}
    path_col = next((header[c] for c in PATH_COLUMNS if c in header), None)
    label_col = next((header[c] for c in LABEL_COLUMNS if c in header), None)
    if path_col is None:
        raise LabelFileError(f"{path}: no path column in the header (expected one of: {', '.join(PATH_COLUMNS)})")
    speaker_col = next((header[c] for c in SPEAKER_COLUMNS if c in header), None)
    rows, errors = [], []
    for record in reader:
        line = reader.line_num
        origin = f"{path.name}:{line}"
        try:
            raw = (record.get(label_col) or "").strip() if label_col else ""
            dims = {d: _dimension(record.get(header[d]) if d in header else None, d) for d in DIMENSIONS}
            if not raw and all(v is None for v in dims.values()):
                raise ValueError("no label and no arousal/valence/dominance value")
            rows.append(
                LabelRow(
                    path=_resolve(path, (record.get(path_col) or "").strip()),
                    label=canonical_label(raw) if raw else None,
                    raw_label=raw or None,
                    origin=origin,
                    speaker=(record.get(speaker_col) or "").strip() or None if speaker_col else None,
                    **dims,
                )
            )
        except (ValueError, UnknownLabelError) as err:
            errors.append(f"{path}:{line}: {err}")
    return rows, errors


def _read_scp(path: Path, text: str) -> tuple[list[LabelRow], list[str]]:
    rows, errors = [], []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 3:
            errors.append(f"{path}:{line_no}: expected 'utt_id path label', got {line.strip()!r}")
            continue
        utt_id, media_path, raw = parts[0], " ".join(parts[1:-1]), parts[-1]
        try:
            rows.append(
                LabelRow(
                    path=_resolve(path, media_path), label=canonical_label(raw), raw_label=raw,
                    origin=f"{path.name}:{line_no}", utt_id=utt_id,
                )  # fmt: skip
            )
        except (ValueError, UnknownLabelError) as err:
            errors.append(f"{path}:{line_no}: {err}")
    return rows, errors


def _resolve(label_file: Path, media_path: str) -> Path:
    if not media_path:
        raise ValueError("empty path")
    p = Path(media_path).expanduser()
    p = (p if p.is_absolute() else label_file.parent / p).resolve()
    if not p.is_file():
        raise ValueError(f"file not found: {p}")
    return p


def _dimension(value: str | None, name: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{name} {value.strip()!r} is not a number") from None
    if not -1.0 <= x <= 1.0:
        raise ValueError(f"{name} {x} is outside [-1, 1]")
    return x
