"""bulk import: import runs (resume marks) and their rejected rows; JSONB on PostgreSQL

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSON kept as text repeats its whitespace and keys in every row; JSONB stores it
# parsed and compact (the write path's bytes per complaint).
_JSONB = [("complaints", "label_confidence"), ("complaints", "risk_flags"), ("events", "data")]


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("company_id", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_line", sa.BigInteger(), nullable=False),
        sa.Column("imported", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_import_runs_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
        sa.UniqueConstraint("company_id", "file_hash", name=op.f("uq_import_runs_company_id")),
    )
    op.create_table(
        "import_rejections",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["import_runs.id"], name=op.f("fk_import_rejections_run_id_import_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "line", name=op.f("pk_import_rejections")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _JSONB:
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _JSONB:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE json USING {column}::json")
    op.drop_table("import_rejections")
    op.drop_table("import_runs")
