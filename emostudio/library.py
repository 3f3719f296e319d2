"""The library table, shared by `emostudio ls` and the UI's library page."""

from __future__ import annotations

from db.repository import Repository

LIBRARY_COLUMNS = ("id", "name", "duration", "modality", "status", "speech segments", "transcript", "labels")


def library_rows(repo: Repository) -> list[tuple]:
    return [
        (
            s.media.id,
            s.media.name,
            round(s.media.duration, 2),
            s.media.info.modality,
            s.media.status,
            s.segments,
            "yes" if s.transcript_segments else "",
            s.labels,
        )
        for s in repo.list_media()
    ]


def format_table(columns: tuple[str, ...], rows: list[tuple]) -> str:
    cells = [tuple(str(c) for c in columns)] + [tuple("" if v is None else str(v) for v in r) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
