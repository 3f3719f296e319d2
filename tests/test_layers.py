"""The layering the folders show holds: every import points down (or sideways within a
folder), and folders import each other without cycles.

core < media < features < model < db < services < trainers < ui < the entry points
(cli, testing). The db/ and trainers/ folders are installed as emostudio.db and
emostudio.trainers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "media", "features", "model", "db", "services", "trainers", "ui", "entry"]
FOLDERS = {
    "emostudio/core": "core",
    "emostudio/media": "media",
    "emostudio/features": "features",
    "emostudio/model": "model",
    "db": "db",
    "emostudio/services": "services",
    "trainers": "trainers",
    "emostudio/ui": "ui",
}


def layer_of_file(path: Path) -> str:
    rel = path.relative_to(ROOT).as_posix()
    for folder, layer in FOLDERS.items():
        if rel.startswith(folder + "/"):
            return layer
    return "entry"  # emostudio/cli.py, emostudio/testing.py, emostudio/__init__.py


def layer_of_module(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "emostudio":
        return None
    if len(parts) == 1 or parts[1] in ("cli", "testing"):
        return "entry"
    return parts[1] if parts[1] in LAYERS else "entry"


def imports() -> list[tuple[Path, str, str]]:
    found = []
    files = [*ROOT.glob("emostudio/**/*.py"), *ROOT.glob("db/**/*.py"), *ROOT.glob("trainers/**/*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                target = layer_of_module(name)
                if target is not None:
                    found.append((path, layer_of_file(path), target))
    return found


def test_every_import_points_down():
    upward = [
        f"{p.relative_to(ROOT)} ({src}) imports {dst}"
        for p, src, dst in imports()
        if LAYERS.index(dst) > LAYERS.index(src)
    ]
    assert upward == []


def test_only_the_db_folder_speaks_to_the_database_driver():
    """Services and pages get records and ``StorageError`` sentences, never a Session or a
    driver exception (core.paths only parses database URLs)."""
    talking = set()
    for path in [*ROOT.glob("emostudio/**/*.py"), *ROOT.glob("trainers/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            if any(m.split(".")[0] == "sqlalchemy" for m in modules):
                talking.add(path.relative_to(ROOT).as_posix())
    assert talking == {"emostudio/core/paths.py"}


def test_the_import_graph_by_folder(capsys):
    """Print the graph (for the record) and check it has no cycle between folders."""
    edges = sorted({(src, dst) for _, src, dst in imports() if src != dst})
    print("\n".join(f"{src} -> {dst}" for src, dst in edges))
    assert all(LAYERS.index(dst) < LAYERS.index(src) for src, dst in edges)  # a strict order has no cycle


def test_nothing_generic_lands_in_site_packages(tmp_path):
    """Installed, db/ and trainers/ are emostudio.db and emostudio.trainers; no top-level
    package called db or trainers shadows (or is shadowed by) another project's."""
    import subprocess
    import sys

    probe = (
        "import emostudio.db.repository, emostudio.trainers.worker\nfor name in ('db', 'trainers'):\n"
        "    try:\n        __import__(name)\n        print('found', name)\n    except ModuleNotFoundError:\n"
        "        pass\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout == ""
