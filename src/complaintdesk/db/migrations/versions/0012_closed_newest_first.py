"""read path: closed complaints newest first

The list with ``status=closed`` (or ``withdrawn``) or ``open=false`` newest first had
no index but the company's (or the primary key): it read the newest complaints until
closed ones turned up, and the newest complaints are mostly still open (78-82 ms p50
through the API at 1M, growing with open work). This partial index holds the closed
(and withdrawn) complaints by company, newest first.

It keeps updates HOT: it names no column that changes at each step. ``closed_at`` is
set once, by the update that closes (or withdraws) a complaint, which is not HOT
anyway (``closed_at`` is in the open-work indexes' predicate since 0009); later
updates of a closed complaint leave ``closed_at`` alone. Its size is one entry per
closed complaint (docs/capacity.md has the bytes measured).

On PostgreSQL it is made on every month's partition.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLOSED = "closed_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_complaints_closed_company",
        "complaints",
        ["company_id", "id"],
        postgresql_where=sa.text(_CLOSED),
        sqlite_where=sa.text(_CLOSED),
    )


def downgrade() -> None:
    op.drop_index("ix_complaints_closed_company", table_name="complaints")
