"""Where a figure comes from: the command that measured it, the commit, the machine and
the date. Benchmarks and the default model's trainer stamp their results with it, so a
README or model card quotes a file, never a typed number."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path


def commit(where: Path | None = None) -> str:
    """The checkout's short commit, with ``+changes`` when tracked files differ from it."""
    cwd = where or Path(__file__).parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=cwd
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=cwd
        ).stdout.strip()
        return rev + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(module: str) -> dict:
    """``command`` (``python -m <module>`` with this process's arguments), ``commit``,
    ``date`` and ``machine``."""
    return {
        "command": "python -m " + " ".join([module, *sys.argv[1:]]),
        "commit": commit(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, {platform.python_version()}",
    }
