"""events: the timeline's index on the complaint alone, so PostgreSQL deduplicates it

``ix_events_complaint`` was ``(complaint_id, id)``: one 24-byte entry (and a 4-byte
line pointer) for each of the eight or so events of a complaint, about 250 bytes a
complaint at scale and 459 in the bench's small database (docs/capacity.md). On
``(complaint_id)`` alone, a complaint's entries share one key, and PostgreSQL's B-tree
deduplication (13 and later) stores it once with a list of the rows' addresses (6
bytes each). The timeline still reads one complaint's events from it (about eight
rows, put in id order after they are read), and the months before the complaint's are
still not read (``id >= …`` prunes the partitions).

On PostgreSQL the index is made on every month's partition, one partition at a time
and concurrently (``db/online.py``): events are read and written while it is built;
the old index is dropped, and the new one renamed, at the end, each in a moment's lock.
Made in one transaction instead, the migration stopped every read and write of events
for 30.6 s at ten million complaints (docs/operations.md, "Upgrading a large
database"). Run again after an interruption, it goes on where it stopped.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

from complaintdesk.db import online

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and online.partitions(op.get_bind(), "events"):
        with op.get_context().autocommit_block():
            online.build_index(
                op.get_bind(), "events", "ix_events_complaint", ["complaint_id"], replace=True
            )
        return
    op.drop_index("ix_events_complaint", table_name="events")
    op.create_index("ix_events_complaint", "events", ["complaint_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and online.partitions(op.get_bind(), "events"):
        with op.get_context().autocommit_block():
            online.build_index(
                op.get_bind(), "events", "ix_events_complaint", ["complaint_id", "id"], replace=True
            )
        return
    op.drop_index("ix_events_complaint", table_name="events")
    op.create_index("ix_events_complaint", "events", ["complaint_id", "id"])
