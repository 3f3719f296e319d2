"""users and roles, process heartbeats, kept (superseded) prediction runs, idempotent label
imports, 64-bit file sizes

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processes",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("annotations") as batch_op:
        batch_op.add_column(sa.Column("dedup_key", sa.String(length=64), nullable=True))
        batch_op.create_index("ux_annotations_dedup_key", ["dedup_key"], unique=True)
    _key_imported_labels()
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("current_item", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("requested_by", sa.String(length=64), nullable=True))
    with op.batch_alter_table("media") as batch_op:
        batch_op.alter_column("size_bytes", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
    with op.batch_alter_table("media_files") as batch_op:
        batch_op.alter_column("size_bytes", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
        batch_op.alter_column("mtime_ns", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.add_column(sa.Column("superseded", sa.Boolean(), server_default=sa.false(), nullable=False))


# The annotation columns as of this revision (later revisions add more; a migration
# reads the table as it was then, never the models of today).
_ANNOTATION_FIELDS = (
    "media_id", "source", "annotator", "label", "raw_label", "arousal", "valence", "dominance", "start",
    "duration", "confidence", "corrects_prediction_id", "model_version_id", "origin",
)  # fmt: skip


def _key_imported_labels() -> None:
    """Give labels imported before this revision their key, so importing the same file
    again adds nothing (the first of any duplicates already there gets it)."""
    from emostudio.db.repository import import_key
    from emostudio.core.domain import Annotation

    conn = op.get_bind()
    columns = (sa.column(f) for f in ("id", "dedup_key", *_ANNOTATION_FIELDS))
    table = sa.table("annotations", *columns)
    seen = set()
    for row in conn.execute(sa.select(table).where(table.c.source == "import").order_by(table.c.id)).mappings():
        key = import_key(Annotation(id=row["id"], **{f: row[f] for f in _ANNOTATION_FIELDS}))
        if key not in seen:
            seen.add(key)
            conn.execute(sa.update(table).where(table.c.id == row["id"]).values(dedup_key=key))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_column("superseded")
    with op.batch_alter_table("media_files") as batch_op:
        batch_op.alter_column("mtime_ns", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
        batch_op.alter_column("size_bytes", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table("media") as batch_op:
        batch_op.alter_column("size_bytes", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("requested_by")
        batch_op.drop_column("current_item")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("annotations") as batch_op:
        batch_op.drop_index("ux_annotations_dedup_key")
        batch_op.drop_column("dedup_key")
    op.drop_table("users")
    op.drop_table("processes")
