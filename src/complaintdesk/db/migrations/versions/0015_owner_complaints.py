"""an owner's complaints by id in one narrow unpartitioned table (``owner_complaints``)

An owner's history (newest first, 20 a page) merged the months: it descended every
month's ``(owner_id, id)`` index and read the newest complaint of the owner in every
month, whether the page reached that month or not (37 months at 10 million: 37 index
leaves and 37 complaint pages a request, most of them outside memory for an owner not
asked before; docs/capacity.md, step 15). The owner's complaint ids are now also kept
in ``owner_complaints`` (owner_id, complaint_id), whose primary key holds an owner's
ids side by side: the history reads the page's ids from one leaf, then the page's
complaints by id.

Kept by a trigger on complaints (``db/owner_complaints.py``) and, on PostgreSQL, by
the bulk path itself (it writes with triggers off). Upgrade: the table and the
trigger first, then every existing complaint's row. Downgrade: the trigger and the
table go.

On PostgreSQL the upgrade keeps complaints written while it runs (``db/online.py``):
the table and the trigger are made in a moment's lock and committed, then each month's
complaints are copied in a transaction of their own (``ON CONFLICT DO NOTHING``: one
the trigger wrote already, or a run before this one, is skipped), then the primary key,
which filled out of order, is rebuilt concurrently to its packed size. Made in one
transaction instead, it stopped every write of complaints for 18-23 s at ten million
(docs/operations.md, "Upgrading a large database"). Run again after an interruption,
it goes on where it stopped.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from complaintdesk.db import online, owner_complaints

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            conn = op.get_bind()
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS owner_complaints "
                    "(owner_id bigint NOT NULL, complaint_id bigint NOT NULL, "
                    "CONSTRAINT pk_owner_complaints PRIMARY KEY (owner_id, complaint_id))"
                )
            )
            online.with_short_locks(conn, owner_complaints.install)
            online.fill_by_partition(conn, "complaints", owner_complaints.BACKFILL_FROM)
            # A rebuild interrupted by an earlier run left an invalid copy of the key
            # (``…_ccnew``): it would stay beside the new one, written on every insert.
            online.drop_unfinished_rebuilds(conn, "owner_complaints")
            conn.execute(sa.text("REINDEX INDEX CONCURRENTLY pk_owner_complaints"))
            conn.execute(sa.text("ANALYZE owner_complaints"))
        return
    op.create_table(
        "owner_complaints",
        sa.Column("owner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("complaint_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "complaint_id", name="pk_owner_complaints"),
        sqlite_with_rowid=False,
    )
    owner_complaints.install(conn)
    conn.execute(sa.text(owner_complaints.BACKFILL))


def downgrade() -> None:
    conn = op.get_bind()
    owner_complaints.uninstall(conn)
    op.drop_table("owner_complaints")
