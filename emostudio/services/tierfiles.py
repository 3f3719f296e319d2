"""ELAN ``.eaf`` (pympi-ling) and Praat ``.TextGrid`` (praatio) files from and to tiers
(``emostudio.services.tiers``).

In an EAF, each tier is an ELAN tier of time-aligned annotations (milliseconds), the
media is its linked file, and each track is a CSV (``time`` and one value column, named
after the track) beside the EAF, linked as a secondary file: ELAN shows it as a time
series. In a TextGrid, tiers are interval tiers and tracks are point tiers whose points
hold the value as text.
"""

from __future__ import annotations

import csv
import math
import mimetypes
import re
from pathlib import Path

import numpy as np

from emostudio.core.domain import Media
from emostudio.core.errors import StudioError
from emostudio.db.repository import Repository
from emostudio.media.decode import MEDIA_EXTENSIONS
from emostudio.services.tiers import Interval, Tier, TierImport, Track, import_tiers, media_tiers

_MEDIA_SUFFIXES = sorted(MEDIA_EXTENSIONS)


class TierFileError(StudioError):
    """A tier file that cannot be read, in one sentence naming it."""


def write_tier_file(path: str | Path, media: Media, tiers: list[Tier], tracks: list[Track]) -> list[Path]:
    """Write ``path`` (ELAN or Praat, by its suffix); returns every file written (an EAF's
    time-series CSVs lie beside it)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".eaf":
        return _write_eaf(path, media, tiers, tracks)
    if suffix == ".textgrid":
        return _write_textgrid(path, media, tiers, tracks)
    raise TierFileError(f"{path.name}: write .eaf (ELAN) or .TextGrid (Praat)")


def read_tier_file(path: str | Path) -> tuple[list[Tier], list[Track], str | None]:
    """Tiers, tracks and the media file the tier file names (ELAN's linked media; for a
    TextGrid, None)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".eaf":
            return _read_eaf(path)
        if suffix == ".textgrid":
            tiers, tracks = _read_textgrid(path)
            return tiers, tracks, None
    except TierFileError:
        raise
    except Exception as err:  # noqa: BLE001 - any parser failure is the same to the person
        raise TierFileError(f"{path.name}: not a readable {suffix[1:]} file ({type(err).__name__}: {err})") from None
    raise TierFileError(f"{path.name}: import .eaf (ELAN) or .TextGrid (Praat) files")


def find_media(repo: Repository, key: str) -> Media | None:
    """A media by its id, else by its file name."""
    media = repo.get_media(key)
    if media is not None:
        return media
    entries, _ = repo.media_page(None, text=key, limit=1_000)
    named = [e.media for e in entries if e.media.name == key]
    return named[0] if named else None


def export_tier_file(
    repo: Repository, media_key: str, path: str | Path, model_version: str | None = None
) -> list[Path]:
    """Write a media's tiers and tracks (``emostudio.services.tiers``) to an ELAN or Praat file."""
    media = find_media(repo, media_key)
    if media is None:
        raise TierFileError(f"there is no media {media_key!r} in the library")
    if model_version is None:
        active = repo.active_model_version()
        model_version = active.id if active else None
    tiers, tracks = media_tiers(repo, media, model_version)
    return write_tier_file(path, media, tiers, tracks)


def import_tier_file(repo: Repository, path: str | Path, media_key: str | None = None) -> tuple[Media, TierImport]:
    """Import an ELAN or Praat file into the media it belongs to: ``media_key`` (id or
    name), else the media the EAF links, else the media named like the file."""
    path = Path(path)
    tiers, tracks, linked = read_tier_file(path)
    keys = [media_key] if media_key else [k for k in (linked,) if k]
    if not media_key:
        keys += [f"{path.stem}{suffix}" for suffix in _MEDIA_SUFFIXES]
    for key in keys:
        media = find_media(repo, key)
        if media is not None:
            return media, import_tiers(repo, media, tiers, tracks, path.name)
    raise TierFileError(f"{path.name}: no media in the library matches it (give the media's id or name)")


def file_slug(name: str) -> str:
    """``name`` with anything but letters, digits, ``_.-`` turned into ``-`` (safe in a file name)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def _write_eaf(path: Path, media: Media, tiers: list[Tier], tracks: list[Track]) -> list[Path]:
    from pympi.Elan import Eaf

    eaf = Eaf(author="emostudio")
    eaf.add_linked_file(
        Path(media.path).name,
        relpath=Path(media.path).name,
        mimetype=mimetypes.guess_type(media.path)[0] or ("video/mp4" if media.info.has_video else "audio/x-wav"),
    )
    for tier in tiers:
        eaf.add_tier(tier.name)
        for i in tier.intervals:
            start, end = round(i.start * 1000), round(i.end * 1000)
            if end > start:
                eaf.add_annotation(tier.name, start, end, i.text)
    if "default" in eaf.get_tier_names() and all(t.name != "default" for t in tiers):
        eaf.remove_tier("default")
    written = [path]
    for track in tracks:
        csv_path = path.with_name(f"{path.stem}.{file_slug(track.name)}.csv")
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["time", track.name])
            out.writerows((f"{t:.4f}", "" if math.isnan(v) else f"{v:.6g}") for t, v in zip(track.times, track.values))
        eaf.add_secondary_linked_file(csv_path.name, relpath=f"./{csv_path.name}", mimetype="text/csv")
        written.append(csv_path)
    eaf.to_file(str(path))
    return written


def _read_eaf(path: Path) -> tuple[list[Tier], list[Track], str | None]:
    from pympi.Elan import Eaf

    eaf = Eaf(str(path))
    tiers = []
    for name in eaf.get_tier_names():
        found = eaf.get_annotation_data_for_tier(name)
        tiers.append(Tier(name, [Interval(a[0] / 1000, a[1] / 1000, a[2] or "") for a in sorted(found)]))
    tracks = []
    for linked in eaf.get_secondary_linked_files():
        rel = linked.get("RELATIVE_LINK_URL") or linked.get("LINK_URL") or ""
        csv_path = (path.parent / rel.removeprefix("file://")).resolve()
        if csv_path.suffix.lower() != ".csv" or not csv_path.is_file():
            continue
        tracks.append(_read_track_csv(csv_path))
    media = eaf.get_linked_files()
    name = Path((media[0].get("RELATIVE_MEDIA_URL") or media[0].get("MEDIA_URL") or "")).name if media else None
    return tiers, tracks, name or None


def _read_track_csv(path: Path) -> Track:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or len(rows[0]) < 2:
        raise TierFileError(f"{path.name}: a time series needs a time column and a value column")
    times = np.array([float(r[0]) for r in rows[1:]])
    values = np.array([float(r[1]) if r[1].strip() else np.nan for r in rows[1:]])
    return Track(rows[0][1], times, values)


def _write_textgrid(path: Path, media: Media, tiers: list[Tier], tracks: list[Track]) -> list[Path]:
    from praatio import textgrid

    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=media.duration)
    for tier in tiers:
        entries = [(i.start, min(i.end, media.duration), i.text) for i in tier.intervals if i.end > i.start]
        grid.addTier(textgrid.IntervalTier(tier.name, entries, 0.0, media.duration))
    for track in tracks:
        points = [(float(t), f"{v:.6g}") for t, v in zip(track.times, track.values) if not math.isnan(v)]
        points = [(t, v) for t, v in points if 0.0 <= t <= media.duration]
        grid.addTier(textgrid.PointTier(track.name, points, 0.0, media.duration))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    return [path]


def _read_textgrid(path: Path) -> tuple[list[Tier], list[Track]]:
    from praatio import textgrid

    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    tiers, tracks = [], []
    for name in grid.tierNames:
        tier = grid.getTier(name)
        if tier.tierType == textgrid.INTERVAL_TIER:
            tiers.append(Tier(name, [Interval(e.start, e.end, e.label) for e in tier.entries]))
            continue
        try:
            values = np.array([float(e.label) for e in tier.entries])
        except ValueError:  # a point tier of words, not numbers: each point an instant
            tiers.append(Tier(name, [Interval(e.time, e.time, e.label) for e in tier.entries]))
            continue
        tracks.append(Track(name, np.array([e.time for e in tier.entries]), values))
    return tiers, tracks
