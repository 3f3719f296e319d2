"""Label files: CSV (``path,emotion[,arousal,valence,dominance,speaker]``, header required)
and the Kaldi-style ``.scp`` list (``utt_id path label`` per line).

Relative paths are relative to the label file's folder. Each bad line yields a
one-line error naming the file and line; the good lines are still returned. Every path
(the label file's own and those it names) passes the import's ``PathPolicy``, and
errors quote at most a short piece of a cell.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from emostudio.core.errors import PathRefused
from emostudio.core.files import printable
from emostudio.core.labels import DIMENSIONS, UnknownLabelError, canonical_label
from emostudio.core.paths import PathPolicy

MAX_FIELD = 128 * 1024  # Python's csv default; a longer cell is a bad line, not a crash
QUOTE = 40  # characters of a cell an error message quotes at most

# Accepted header names for each field, first match wins (corpora name them differently).
PATH_COLUMNS = ("path", "file", "filename")
LABEL_COLUMNS = ("emotion", "label", "intended_emotion")
SPEAKER_COLUMNS = ("speaker", "actor", "speaker_id")


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


def read_label_file(path: str | Path, policy: PathPolicy = PathPolicy()) -> tuple[list[LabelRow], list[str]]:
    """Parse a label file; returns the good rows and one error line per bad row."""
    shown = printable(policy.show(path))
    path = Path(path)
    policy.check(path)
    if not path.is_file():
        raise LabelFileError(f"{shown}: label file not found")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LabelFileError(
            f"{shown}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start}); re-save it as UTF-8"
        ) from None
    except OSError as err:
        raise LabelFileError(f"{shown}: cannot be read ({err.strerror or type(err).__name__})") from None
    reader = _Reader(path, shown, policy)
    if path.suffix.lower() == ".scp":
        return reader.scp(text)
    return reader.csv(text)


def quote(cell: str) -> str:
    """A cell as an error message shows it: at most ``QUOTE`` characters."""
    cell = printable(cell.strip())
    return repr(cell if len(cell) <= QUOTE else cell[:QUOTE] + "...")


class _Reader:
    def __init__(self, path: Path, shown: str, policy: PathPolicy):
        self.path, self.shown, self.policy = path, shown, policy

    def csv(self, text: str) -> tuple[list[LabelRow], list[str]]:
        return _read_csv(self, text)

    def scp(self, text: str) -> tuple[list[LabelRow], list[str]]:
        return _read_scp(self, text)

    def resolve(self, media_path: str) -> Path:
        if not media_path:
            raise ValueError("empty path")
        p = Path(os.path.expanduser(media_path))  # Path.expanduser raises on an unknown ~user
        p = p if p.is_absolute() else self.path.parent / p
        try:
            resolved = self.policy.check(p)
        except PathRefused:
            raise ValueError(f"{quote(media_path)} is not inside a folder this studio imports from") from None
        if not resolved.is_file():
            raise ValueError(f"file not found: {quote(media_path)}")
        return resolved


def _records(reader: csv.DictReader, r: _Reader, errors: list[str]):
    """The CSV's records; a line the csv module cannot parse (a cell over 128 KB, a NUL
    byte) becomes an error and reading goes on with the next line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # raised before the line is counted
            errors.append(f"{r.shown}:{reader.line_num + 1}: {_csv_problem(err)}")


def _csv_problem(err: csv.Error) -> str:
    if "field larger than field limit" in str(err):
        return f"a cell is longer than {MAX_FIELD // 1024} KB; the line is skipped"
    return f"not valid CSV ({err}); the line is skipped"


def _read_csv(r: _Reader, text: str) -> tuple[list[LabelRow], list[str]]:
    path = r.path
    reader = csv.DictReader(text.splitlines())
    errors: list[str] = []
    try:
        fieldnames = reader.fieldnames
    except csv.Error as err:
        raise LabelFileError(f"{r.shown}:1: the header line: {_csv_problem(err)}") from None
    header = {h.strip().lower(): h for h in fieldnames or []}
    path_col = next((header[c] for c in PATH_COLUMNS if c in header), None)
    label_col = next((header[c] for c in LABEL_COLUMNS if c in header), None)
    if path_col is None:
        raise LabelFileError(f"{r.shown}: no path column in the header (expected one of: {', '.join(PATH_COLUMNS)})")
    speaker_col = next((header[c] for c in SPEAKER_COLUMNS if c in header), None)
    rows = []
    for record in _records(reader, r, errors):
        line = reader.line_num
        origin = f"{printable(path.name)}:{line}"
        try:
            raw = (record.get(label_col) or "").strip() if label_col else ""
            dims = {d: _dimension(record.get(header[d]) if d in header else None, d) for d in DIMENSIONS}
            if not raw and all(v is None for v in dims.values()):
                raise ValueError("no label and no arousal/valence/dominance value")
            speaker = (record.get(speaker_col) or "").strip()[:128] or None if speaker_col else None
            rows.append(
                LabelRow(
                    path=r.resolve((record.get(path_col) or "").strip()),
                    label=_label(raw) if raw else None,
                    raw_label=raw[:128] or None,
                    origin=origin,
                    speaker=speaker,
                    **dims,
                )
            )
        except (ValueError, UnknownLabelError) as err:
            errors.append(f"{r.shown}:{line}: {printable(str(err))}")
    return rows, errors


def _label(raw: str) -> str:
    try:
        return canonical_label(raw)
    except UnknownLabelError as err:
        if len(raw) > QUOTE:  # the label list helps, a page of cell text does not
            raise UnknownLabelError(f"unknown label {quote(raw)}") from None
        raise err from None


def _read_scp(r: _Reader, text: str) -> tuple[list[LabelRow], list[str]]:
    rows, errors = [], []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 3:
            errors.append(f"{r.shown}:{line_no}: expected 'utt_id path label', got {quote(line)}")
            continue
        utt_id, media_path, raw = parts[0], " ".join(parts[1:-1]), parts[-1]
        try:
            rows.append(
                LabelRow(
                    path=r.resolve(media_path),
                    label=_label(raw),
                    raw_label=raw[:128],
                    origin=f"{printable(r.path.name)}:{line_no}",
                    utt_id=utt_id[:128],
                )
            )
        except (ValueError, UnknownLabelError) as err:
            errors.append(f"{r.shown}:{line_no}: {printable(str(err))}")
    return rows, errors


def _dimension(value: str | None, name: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{name} {quote(value)} is not a number") from None
    if x != x:  # NaN
        raise ValueError(f"{name} is not a number (NaN)")
    if not -1.0 <= x <= 1.0:
        raise ValueError(f"{name} {x} is outside [-1, 1]")
    return x
