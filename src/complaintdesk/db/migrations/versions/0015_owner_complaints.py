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
the bulk path itself (it writes with triggers off). Upgrade: the trigger first (on
PostgreSQL it holds off other writers of complaints until the migration commits),
then every existing complaint's row, sorted, then the primary key (built once over
sorted rows on PostgreSQL). Downgrade: the trigger and the table go.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from complaintdesk.db import owner_complaints

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(
                "CREATE TABLE owner_complaints "
                "(owner_id bigint NOT NULL, complaint_id bigint NOT NULL)"
            )
        )
        owner_complaints.install(conn)
        conn.execute(sa.text(owner_complaints.BACKFILL))
        conn.execute(
            sa.text(
                "ALTER TABLE owner_complaints ADD CONSTRAINT pk_owner_complaints "
                "PRIMARY KEY (owner_id, complaint_id)"
            )
        )
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
