"""chunk-level predictions move to one array file per media and model-version run;
segment and clip predictions gain their top label, margin and entropy (the keys of the
uncertainty queue and of the library's filter); the library's sort columns are indexed

Every chunk row becomes a row of a safetensors file under the data folder's ``arrays``
folder (``db.arrays``); ``chunk_arrays`` names each file with its checksum. A run is a
media's chunks by one version from one analysis: the current run, and each superseded
one (their chunks were inserted in time order, so a run ends where the start time goes
back). Chunk rows an annotation names stay in ``predictions`` as they are.

Revision ID: 0005
Revises: 0004
"""

import itertools
import math
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

from emostudio.core.domain import Prediction
from emostudio.core.series import ChunkSeries
from emostudio.db.arrays import ChunkStore, StoredFile

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_predictions = sa.table(
    "predictions",
    sa.column("id", sa.Integer),
    sa.column("media_id", sa.String),
    sa.column("model_version_id", sa.String),
    sa.column("extractor", sa.String),
    sa.column("level", sa.String),
    sa.column("start", sa.Float),
    sa.column("duration", sa.Float),
    sa.column("basic", sa.JSON),
    sa.column("compound", sa.JSON),
    sa.column("arousal", sa.Float),
    sa.column("valence", sa.Float),
    sa.column("dominance", sa.Float),
    sa.column("modalities", sa.JSON),
    sa.column("top_label", sa.String),
    sa.column("margin", sa.Float),
    sa.column("entropy", sa.Float),
    sa.column("superseded", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_annotations = sa.table("annotations", sa.column("corrects_prediction_id", sa.Integer))
_FIELDS = ("media_id", "model_version_id", "extractor", "start", "duration", "basic", "compound")


def _prediction(row) -> Prediction:
    return Prediction(
        row.id,
        row.media_id,
        row.model_version_id,
        row.extractor,
        row.level,
        row.start,
        row.duration,
        basic=row.basic or {},
        compound=row.compound or {},
        arousal=row.arousal,
        valence=row.valence,
        dominance=row.dominance,
        modalities=row.modalities or {},
    )


def _runs(rows):
    """A media and version's chunk rows (by id) cut into runs where the start goes back."""
    run, last = [], -math.inf
    for row in rows:
        if run and row.start <= last:
            yield run
            run = []
        run.append(row)
        last = row.start
    if run:
        yield run


def _store() -> ChunkStore | None:
    folder = context.config.attributes.get("arrays_dir")
    return None if folder is None else ChunkStore(Path(folder))


def upgrade() -> None:
    with op.batch_alter_table("media") as batch_op:
        batch_op.create_index("ix_media_created", ["created_at", "name"], unique=False)
        batch_op.create_index("ix_media_name", ["name"], unique=False)
        batch_op.create_index("ix_media_status", ["status"], unique=False)
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_index("ix_predictions_media_model")
        batch_op.create_index(
            "ix_predictions_media_model", ["media_id", "model_version_id", "level", "superseded", "start"], unique=False
        )
        batch_op.add_column(sa.Column("top_label", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("margin", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("entropy", sa.Float(), nullable=True))
        batch_op.create_index(
            "ix_predictions_queue_label",
            ["model_version_id", "level", "superseded", "top_label", "margin"],
            unique=False,
        )
        batch_op.create_index(
            "ix_predictions_queue_margin", ["model_version_id", "level", "superseded", "margin"], unique=False
        )
        batch_op.create_index(
            "ix_predictions_queue_entropy", ["model_version_id", "level", "superseded", "entropy"], unique=False
        )
    chunk_arrays = op.create_table(
        "chunk_arrays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.String(length=32), nullable=False),
        sa.Column("model_version_id", sa.String(length=64), nullable=False),
        sa.Column("extractor", sa.String(length=128), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("superseded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chunk_arrays") as batch_op:
        batch_op.create_index(
            "ix_chunk_arrays_media_model", ["media_id", "model_version_id", "superseded"], unique=False
        )
    bind = op.get_bind()
    units = bind.execute(sa.select(_predictions.c.id, _predictions.c.basic).where(_predictions.c.level != "chunk"))
    scores = [
        {"pid": pid, "t": p.top_label, "m": p.margin if p.basic else None, "e": p.entropy if p.basic else None}
        for pid, p in ((i, _unit(b)) for i, b in units)
    ]
    if scores:
        bind.execute(
            _predictions.update()
            .where(_predictions.c.id == sa.bindparam("pid"))
            .values(top_label=sa.bindparam("t"), margin=sa.bindparam("m"), entropy=sa.bindparam("e")),
            scores,
        )
    c = _predictions.c
    chunks = sa.select(_predictions).where(c.level == "chunk").order_by(c.media_id, c.model_version_id, c.superseded, c.id)
    store = _store()
    for (media_id, version, superseded), rows in itertools.groupby(
        bind.execute(chunks.execution_options(stream_results=True, yield_per=5_000)),
        key=lambda r: (r.media_id, r.model_version_id, r.superseded),
    ):
        if store is None:
            raise RuntimeError("chunk predictions need a folder for their files: give the studio's data folder")
        for run in _runs(rows):
            series = ChunkSeries.from_predictions([_prediction(r) for r in run])
            stored = store.write(series)
            bind.execute(
                chunk_arrays.insert().values(
                    media_id=media_id,
                    model_version_id=version,
                    extractor=series.extractor,
                    path=stored.path,
                    sha256=stored.sha256,
                    size_bytes=stored.size_bytes,
                    chunks=len(series),
                    start=float(series.start[0]),
                    end=series.end,
                    superseded=bool(superseded),
                    created_at=run[0].created_at,
                )
            )
    named = sa.select(_annotations.c.corrects_prediction_id).where(_annotations.c.corrects_prediction_id.is_not(None))
    bind.execute(_predictions.delete().where(_predictions.c.level == "chunk", _predictions.c.id.not_in(named)))


def _unit(basic) -> Prediction:
    return Prediction(None, "", "", "", "segment", 0.0, 0.0, basic=basic or {})


def downgrade() -> None:
    chunk_arrays = sa.table(
        "chunk_arrays",
        *(sa.column(c) for c in ("media_id", "model_version_id", "path", "sha256", "size_bytes", "superseded")),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("id", sa.Integer),
    )
    bind = op.get_bind()
    store = _store()
    c = _predictions.c
    kept = sa.select(c.media_id, c.model_version_id, c.superseded, c.start).where(c.level == "chunk")
    stayed = {tuple(r) for r in bind.execute(kept)}  # chunk rows an annotation names never left the table
    for row in bind.execute(sa.select(chunk_arrays).order_by(chunk_arrays.c.id)).all():
        series = store.read(StoredFile(row.path, row.sha256, row.size_bytes))
        bind.execute(
            _predictions.insert(),
            [
                {
                    **{f: getattr(p, f) for f in _FIELDS},
                    "level": "chunk",
                    "arousal": p.arousal,
                    "valence": p.valence,
                    "dominance": p.dominance,
                    "modalities": p.modalities,
                    "superseded": row.superseded,
                    "created_at": row.created_at,
                }
                for p in series.predictions()
                if (p.media_id, p.model_version_id, row.superseded, p.start) not in stayed
            ],
        )
    op.drop_table("chunk_arrays")
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_index("ix_predictions_queue_label")
        batch_op.drop_index("ix_predictions_queue_entropy")
        batch_op.drop_index("ix_predictions_queue_margin")
        batch_op.drop_column("entropy")
        batch_op.drop_column("margin")
        batch_op.drop_column("top_label")
        batch_op.drop_index("ix_predictions_media_model")
        batch_op.create_index("ix_predictions_media_model", ["media_id", "model_version_id", "level", "start"], unique=False)
    with op.batch_alter_table("media") as batch_op:
        batch_op.drop_index("ix_media_status")
        batch_op.drop_index("ix_media_name")
        batch_op.drop_index("ix_media_created")
