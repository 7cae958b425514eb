"""read path: a partial index for withdrawn complaints, and the queue's follow-up
dates by person

- ``status = 'withdrawn'``: withdrawn is a closed state, so the open-work index does
  not hold it, and it is rare (about 1 % of complaints): without an index of its own
  the list's ``status=withdrawn`` read the primary key backwards through history
  (32-64 ms at 1M, growing with history).
- The queue's two scans by follow-up date (assigned to me / received by me, soonest
  follow-up first) read the person's whole open work through the deadline index and
  sorted it (33 ms for an agent with 3,500 open complaints at 1M); these indexes hold
  only open complaints with a follow-up date.

On PostgreSQL each is made on every month's partition.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('received', 'dispatched', 'in_progress', 'resolved', 'visited')"
_FOLLOW_UP = f"{_OPEN} AND next_follow_up_at IS NOT NULL"
_INDEXES = [
    ("ix_complaints_withdrawn", ["id"], "status = 'withdrawn'"),
    ("ix_complaints_open_assignee_follow_up", ["assignee_id", "next_follow_up_at"], _FOLLOW_UP),
    (
        "ix_complaints_open_receiver_follow_up",
        ["first_receiver_id", "next_follow_up_at"],
        _FOLLOW_UP,
    ),
]


def upgrade() -> None:
    for name, columns, where in _INDEXES:
        op.create_index(
            name,
            "complaints",
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )


def downgrade() -> None:
    for name, _, _ in _INDEXES:
        op.drop_index(name, table_name="complaints")
