"""read path: open work newest first, withdrawn complaints by their withdrawal event,
and the queue's follow-up dates by person

Open work by id (``closed_at IS NULL``): the list with an open status or ``open=true``
newest first. 0009 dropped the open-status index (it named ``status``); without this
one ``status=received`` sorted all open work (151 ms p50 through the API at 1M).

The queue's two scans by follow-up date (assigned to me / received by me, soonest
follow-up first) read the person's whole open work through the deadline index and
sorted it (33 ms for an agent with 3,500 open complaints at 1M). These partial indexes
hold only open complaints that have a follow-up date. Open work is spelt as bytes'
0009 spells it (``closed_at IS NULL``, set once), so that only the update that sets a
follow-up date touches them (the other steps of the lifecycle stay HOT updates).

Withdrawn complaints: an index on complaints that names ``status`` would make every
status change a non-HOT update, and without one the list read the newest ids until it
had a page of withdrawn ones (27,000 rows at 1M: recent complaints are mostly still
open; 379 ms p50 through the API on the loaded machine). Events are only inserted, so
their withdrawal events are indexed by complaint instead (``kind = 'withdraw'``, one
entry per withdrawn complaint): the list takes the newest withdrawn complaint ids
from it and reads those complaints (``services/queries.py``).

On PostgreSQL each index is made on every month's partition.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WITHDRAW = "kind = 'withdraw'"
_FOLLOW_UP = "closed_at IS NULL AND next_follow_up_at IS NOT NULL"
_INDEXES = [
    ("ix_complaints_open_id", ["id"]),
    ("ix_complaints_open_assignee_follow_up", ["assignee_id", "next_follow_up_at"]),
    ("ix_complaints_open_receiver_follow_up", ["first_receiver_id", "next_follow_up_at"]),
]


def upgrade() -> None:
    for name, columns in _INDEXES:
        where = "closed_at IS NULL" if columns == ["id"] else _FOLLOW_UP
        op.create_index(
            name,
            "complaints",
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    op.create_index(
        "ix_events_withdrawn",
        "events",
        ["complaint_id"],
        postgresql_where=sa.text(_WITHDRAW),
        sqlite_where=sa.text(_WITHDRAW),
    )


def downgrade() -> None:
    op.drop_index("ix_events_withdrawn", table_name="events")
    for name, _ in _INDEXES:
        op.drop_index(name, table_name="complaints")
