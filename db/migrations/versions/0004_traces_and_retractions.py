"""continuous ratings (traces) and retractions of annotations

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.String(length=32), nullable=False),
        sa.Column("annotator", sa.String(length=128), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("pass_number", sa.Integer(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("model_version_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("traces") as batch_op:
        batch_op.create_index(batch_op.f("ix_traces_media_id"), ["media_id"], unique=False)
    with op.batch_alter_table("annotations") as batch_op:
        batch_op.add_column(sa.Column("retracts_annotation_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_annotations_retracts_annotation_id", "annotations", ["retracts_annotation_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("annotations") as batch_op:
        batch_op.drop_constraint("fk_annotations_retracts_annotation_id", type_="foreignkey")
        batch_op.drop_column("retracts_annotation_id")
    with op.batch_alter_table("traces") as batch_op:
        batch_op.drop_index(batch_op.f("ix_traces_media_id"))
    op.drop_table("traces")
