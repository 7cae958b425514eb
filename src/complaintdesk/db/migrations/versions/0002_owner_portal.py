"""owner portal: owner page links, sign-in codes, photos; staff language; owner visits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:31:32.578153
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "owner_codes",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner_codes")),
    )
    with op.batch_alter_table("owner_codes", schema=None) as batch_op:
        batch_op.create_index("ix_owner_codes_phone", ["phone", "id"], unique=False)

    op.create_table(
        "complaint_photos",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("complaint_id", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_complaint_photos_complaint_id_complaints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_photos")),
    )
    with op.batch_alter_table("complaint_photos", schema=None) as batch_op:
        batch_op.create_index("ix_complaint_photos_complaint", ["complaint_id"], unique=False)

    op.create_table(
        "owner_links",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("complaint_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name=op.f("fk_owner_links_complaint_id_complaints")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_owner_links_token_hash")),
    )
    with op.batch_alter_table("owner_links", schema=None) as batch_op:
        batch_op.create_index("ix_owner_links_complaint", ["complaint_id"], unique=False)

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=5), server_default="zh", nullable=False)
        )

    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.BigInteger(), nullable=True))
        batch_op.alter_column("staff_id", existing_type=sa.BIGINT(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_visits_owner_id_owners"), "owners", ["owner_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_visits_owner_id_owners"), type_="foreignkey")
        batch_op.alter_column("staff_id", existing_type=sa.BIGINT(), nullable=False)
        batch_op.drop_column("owner_id")

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("language")

    with op.batch_alter_table("owner_links", schema=None) as batch_op:
        batch_op.drop_index("ix_owner_links_complaint")

    op.drop_table("owner_links")
    with op.batch_alter_table("complaint_photos", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_photos_complaint")

    op.drop_table("complaint_photos")
    with op.batch_alter_table("owner_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_owner_codes_phone")

    op.drop_table("owner_codes")
