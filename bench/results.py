"""Benchmark results files: every figure with the command that made it, the commit, the
machine and the date, so the README and notes quote files, never typed numbers."""

from __future__ import annotations

import json
from pathlib import Path

from emostudio.core.provenance import provenance

RESULTS = Path(__file__).parent / "results"


def write_results(name: str, figures: dict) -> Path:
    """Write ``bench/results/<name>.json`` with ``figures`` and where they come from."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"figures": figures, **provenance(f"bench.{name}")}, indent=2) + "\n")
    return path
