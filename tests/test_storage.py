"""Chunk-level outputs stored as one array file per media and model-version run: the
migration that moves them out of the predictions table loses nothing, windows and the
overview read back what was written, and a damaged file says so."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import MetaData, create_engine, select

from emostudio.core.domain import Prediction
from emostudio.core.series import ChunkSeries
from emostudio.db.repository import Repository
from emostudio.db.session import DatabaseError, alembic_config, open_database, upgrade

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CLASSES = ("neutral", "happiness", "sadness", "anger")
COMPOUND = ("happily surprised", "sadly angry")


def _chunks(media_id: str, version: str, n: int, rng: random.Random, step: float = 0.25) -> list[Prediction]:
    """Chunk predictions with values float32 cannot hold (as an old database may have),
    a modality missing from some chunks and a dimension missing from one."""
    preds = []
    for i in range(n):
        probs = [rng.random() for _ in CLASSES]
        total = sum(probs)
        modalities = {"audio": {c: rng.random() for c in CLASSES} | {"weight": rng.random()}}
        if i % 3 == 0:
            modalities["face"] = {c: rng.random() for c in CLASSES} | {"weight": rng.random()}
        preds.append(
            Prediction(
                None,
                media_id,
                version,
                "audio@1",
                "chunk",
                i * step,
                min(step, n * step - 0.1 - i * step) if i == n - 1 else step,
                basic={c: p / total for c, p in zip(CLASSES, probs)},
                compound={c: rng.random() for c in COMPOUND},
                arousal=rng.uniform(-1, 1),
                valence=None if i == 1 else rng.uniform(-1, 1),
                dominance=rng.uniform(-1, 1),
                modalities=modalities,
            )
        )
    return preds


def _row(p: Prediction, superseded: bool) -> dict:
    return {
        "media_id": p.media_id,
        "model_version_id": p.model_version_id,
        "extractor": p.extractor,
        "level": p.level,
        "start": p.start,
        "duration": p.duration,
        "basic": p.basic,
        "compound": p.compound,
        "arousal": p.arousal,
        "valence": p.valence,
        "dominance": p.dominance,
        "modalities": p.modalities,
        "superseded": superseded,
        "created_at": NOW,
    }


def _media(media_id: str) -> dict:
    """A media row as schema 0004 has it (no file behind it: the migration never reads one)."""
    return {
        "id": media_id,
        "content_hash": "0" * 60 + media_id[-4:],
        "path": f"/x/{media_id}.wav",
        "name": f"{media_id}.wav",
        "size_bytes": 1,
        "stored": False,
        "status": "analysed",
        "container": "wav",
        "duration": 30.0,
        "has_audio": True,
        "has_video": False,
        "created_at": NOW,
    }


def test_the_migration_moves_every_chunk_prediction_into_files_and_loses_nothing(tmp_path, db_url):
    """A database at schema 0004 with two media, two versions, a superseded run and a
    correction naming a chunk: after the migration every chunk value reads back from the
    files exactly, run by run; clip and segment rows are untouched and gain their margin
    and entropy; the named chunk row stays. Downgrading puts every chunk row back."""
    url, arrays = db_url, tmp_path / "arrays"
    upgrade(url, "0004")
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    rng = random.Random(7)
    runs = {}  # (media, version, superseded) -> the chunk predictions of that run
    units = []
    with engine.begin() as conn:
        for version in ("v1", "v2"):
            conn.execute(
                t["model_versions"].insert(),
                {
                    "id": version,
                    "kind": "emotion",
                    "path": "/m",
                    "label_space": {},
                    "metrics": {},
                    "active": False,
                    "created_at": NOW,
                },
            )
        for media_id in ("m000000000001", "m000000000002"):
            conn.execute(t["media"].insert(), _media(media_id))
            for version in ("v1", "v2"):
                for superseded in (True, False) if version == "v1" else (False,):
                    chunks = _chunks(media_id, version, 40 + rng.randrange(40), rng)
                    runs[(media_id, version, superseded)] = chunks
                    clip = Prediction(
                        None,
                        media_id,
                        version,
                        "audio@1",
                        "clip",
                        0.0,
                        30.0,
                        basic={c: 0.25 for c in CLASSES},
                        arousal=0.1,
                    )
                    segment = Prediction(
                        None,
                        media_id,
                        version,
                        "audio@1",
                        "segment",
                        1.0,
                        2.0,
                        basic={"neutral": 0.5, "anger": 0.4, "sadness": 0.1},
                    )
                    units += [(clip, superseded), (segment, superseded)]
                    conn.execute(t["predictions"].insert(), [_row(clip, superseded), _row(segment, superseded)])
                    conn.execute(t["predictions"].insert(), [_row(p, superseded) for p in chunks])
        named = conn.execute(
            select(t["predictions"].c.id).where(t["predictions"].c.level == "chunk").order_by(t["predictions"].c.id)
        ).all()[5][0]
        conn.execute(
            t["annotations"].insert(),
            {
                "media_id": "m000000000001",
                "source": "human",
                "annotator": "ana",
                "label": "anger",
                "corrects_prediction_id": named,
                "created_at": NOW,
            },
        )
    engine.dispose()

    repo = Repository(open_database(url, backup_dir=tmp_path / "backups", arrays_dir=arrays), arrays_dir=arrays)
    files = list(arrays.rglob("*.safetensors"))
    assert len(files) == len(runs) == 6
    from emostudio.db.models import ChunkArrayRow, PredictionRow

    with repo.session() as s:
        for row in s.scalars(select(ChunkArrayRow)):
            from emostudio.db.repository import _chunk_file

            series = repo.read_chunks(_chunk_file(row))
            assert series.predictions() == runs[(row.media_id, row.model_version_id, row.superseded)]
            assert row.chunks == len(series)
        kept = s.scalars(select(PredictionRow).where(PredictionRow.level == "chunk")).all()
        assert [r.id for r in kept] == [named]  # the chunk a correction names stays where it was
        stored_units = s.scalars(select(PredictionRow).where(PredictionRow.level != "chunk")).all()
    assert len(stored_units) == len(units)
    for row, (p, superseded) in zip(sorted(stored_units, key=lambda r: r.id), units):
        assert (row.basic, row.arousal, row.superseded) == (p.basic, p.arousal, superseded)
        assert row.margin == pytest.approx(p.margin) and row.entropy == pytest.approx(p.entropy)
        assert row.top_label == p.top_label
    current = repo.chunk_series("m000000000002", "v1")
    assert current.predictions() == runs[("m000000000002", "v1", False)]
    repo.engine.dispose()

    command.downgrade(alembic_config(url, arrays_dir=arrays), "0004")
    engine = create_engine(url)
    with engine.connect() as conn:
        back = conn.execute(
            select(t["predictions"]).where(t["predictions"].c.level == "chunk", t["predictions"].c.id != named)
        ).all()
    for (media_id, version, superseded), chunks in runs.items():
        mine = [r for r in back if (r.media_id, r.model_version_id, r.superseded) == (media_id, version, superseded)]
        got = [
            (r.start, r.duration, r.basic, r.compound, r.arousal, r.valence, r.dominance, r.modalities) for r in mine
        ]
        want = [
            (p.start, p.duration, p.basic, p.compound, p.arousal, p.valence, p.dominance, p.modalities) for p in chunks
        ]
        if (media_id, version, superseded) == ("m000000000001", "v1", True):
            want = [w for i, w in enumerate(want) if i != 5]  # that one never left the table
        assert sorted(got, key=lambda g: g[0]) == want
    engine.dispose()


def _series(n: int, step: float = 0.25, seed: int = 0) -> ChunkSeries:
    return ChunkSeries.from_predictions(_chunks("m1", "v1", n, random.Random(seed), step))


def test_a_window_reads_the_chunks_it_overlaps_and_the_overview_summarises_the_whole(tmp_path):
    from emostudio.db.arrays import ChunkStore

    store = ChunkStore(tmp_path / "arrays")
    whole = _series(14_400)  # an hour at 0.25 s
    stored = store.write(whole)
    for start, end in ((0.0, 30.0), (1_234.6, 1_264.6), (3_590.0, 3_700.0), (12.5, 12.5 + 1e-6)):
        window = store.read(stored, start, end)
        expected = whole.window(start, end)
        assert window.predictions() == expected.predictions() and window.offset == expected.offset
        assert window.total == 14_400 and all(p.end > start and p.start < end for p in window.predictions())
    overview = store.read(stored, overview=True)
    assert len(overview) == 1_000 - 40 and overview.start[0] == 0.0  # 15 chunks a point
    assert overview.column("arousal")[3] == pytest.approx(whole.column("arousal")[45:60].mean())
    uneven = _series(50, step=0.3)  # not a multiple of the grid the file knows: found from its times
    assert store.read(store.write(uneven), 2.0, 4.0).predictions() == uneven.window(2.0, 4.0).predictions()


def test_a_damaged_or_missing_chunk_file_is_named_in_one_sentence(tmp_path):
    from emostudio.services.ingest import ImportOptions, import_paths
    from emostudio.testing import speech, write_audio

    repo = Repository(open_database(f"sqlite:///{tmp_path / 'emostudio.db'}"))
    (media,) = import_paths(
        repo, [write_audio(tmp_path / "a.wav", speech(2.0))], options=ImportOptions(vad=False)
    ).added
    from emostudio.core.domain import ModelVersion

    repo.add_model_version(ModelVersion("v1", "emotion", "/m"))
    series = ChunkSeries.from_predictions(_chunks(media.id, "v1", 8, random.Random(1)))
    repo.replace_predictions(media.id, "v1", [], chunks=series)
    (file,) = repo.chunk_files("v1")
    path = tmp_path / "arrays" / file.stored.path
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseError, match=r"^chunk file .*safetensors does not match its recorded checksum$"):
        repo.chunk_series(media.id, "v1")
    path.unlink()
    with pytest.raises(DatabaseError, match=r"is missing from the data folder$"):
        repo.chunk_series(media.id, "v1", 0.0, 1.0)
