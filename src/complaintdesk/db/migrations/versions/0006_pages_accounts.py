"""pages: project time zone, staff passwords, rate counters, follow-up reminders

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column(
                "timezone", sa.String(length=64), nullable=False, server_default="Asia/Shanghai"
            )
        )
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
    with op.batch_alter_table("follow_ups") as batch:
        batch.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    due = sa.text("reminded_at IS NULL AND next_follow_up_at IS NOT NULL")
    op.create_index(
        "ix_follow_ups_reminder_due",
        "follow_ups",
        ["next_follow_up_at"],
        postgresql_where=due,
        sqlite_where=due,
    )
    op.create_index("ix_owners_company_name", "owners", ["company_id", "name"])
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_counters")),
    )


def downgrade() -> None:
    op.drop_table("rate_counters")
    op.drop_index("ix_owners_company_name", table_name="owners")
    op.drop_index("ix_follow_ups_reminder_due", table_name="follow_ups")
    with op.batch_alter_table("follow_ups") as batch:
        batch.drop_column("reminded_at")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("password_hash")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("timezone")
