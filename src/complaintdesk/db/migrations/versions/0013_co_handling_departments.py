"""complaint_departments keeps only the co-handling departments

The lead department is the complaint's own ``department``; ``complaint_departments``
also held it, one row per complaint (about 119 bytes with its primary key entry), so
the table was as long as complaints (1 GB at 10 million) and every page of complaints
shown read its rows from it: cold pages for an owner's history (docs/capacity.md).
Now it holds only the departments that handle a complaint beside the lead (dispatch's
``also``, a lead that a label correction replaced): most complaints have none, and
the table is small enough to stay in memory. Its ``lead`` column, always false from now on, goes.

Upgrade: the rows that name another department than the complaint's are kept (as
co-handling, whatever their flag), the others removed. On PostgreSQL
the kept rows are copied aside, the table truncated and the rows put back (deleting
nearly all of a large table would leave it and its index at their size, dead rows
to vacuum); nothing points at the table, and the copy reads it once. On SQLite the
lead rows are deleted and the table rebuilt without the column.

Downgrade: the column comes back and every complaint's lead row is written again from
``complaints.department``.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A row co-handles when it is not the complaint's department (that is the lead,
# whatever the flags say: it is never stored twice). A row flagged lead that names
# another department (no service wrote one) stays, as co-handling: nothing is lost.
_CO_HANDLING = (
    "SELECT d.complaint_id, d.department FROM complaint_departments d "
    "JOIN complaints c ON c.id = d.complaint_id "
    "WHERE d.department <> c.department"
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(f"CREATE TEMPORARY TABLE co_handling ON COMMIT DROP AS {_CO_HANDLING}")
        )
        conn.execute(sa.text("TRUNCATE complaint_departments"))
        conn.execute(sa.text("ALTER TABLE complaint_departments DROP COLUMN lead"))
        conn.execute(
            sa.text(
                "INSERT INTO complaint_departments (complaint_id, department) "
                "SELECT complaint_id, department FROM co_handling"
            )
        )
        conn.execute(sa.text("ANALYZE complaint_departments"))
        return
    conn.execute(
        sa.text(
            "DELETE FROM complaint_departments WHERE department = (SELECT "
            "c.department FROM complaints c WHERE c.id = complaint_departments.complaint_id)"
        )
    )
    with op.batch_alter_table("complaint_departments") as batch:
        batch.drop_column("lead")


def downgrade() -> None:
    with op.batch_alter_table("complaint_departments") as batch:
        batch.add_column(sa.Column("lead", sa.Boolean(), nullable=False, server_default=sa.false()))
    # A stored row naming the complaint's own department (no service writes one)
    # becomes its lead row; every other complaint gets one.
    op.execute(
        "UPDATE complaint_departments SET lead = TRUE WHERE department = (SELECT "
        "c.department FROM complaints c WHERE c.id = complaint_departments.complaint_id)"
    )
    op.execute(
        "INSERT INTO complaint_departments (complaint_id, department, lead) "
        "SELECT c.id, c.department, TRUE FROM complaints c WHERE NOT EXISTS (SELECT 1 "
        "FROM complaint_departments d WHERE d.complaint_id = c.id "
        "AND d.department = c.department)"
    )
    with op.batch_alter_table("complaint_departments") as batch:
        batch.alter_column("lead", server_default=None, existing_type=sa.Boolean())
