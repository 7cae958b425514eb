"""updates that can be HOT: the sweeper's next check in a narrow table of its own
(``sla_checks``, kept by triggers on complaints), open work as ``closed_at IS NULL``
instead of ``status IN (...)``, no index on ``status``; complaints' months filled to
85 % on PostgreSQL

A complaint is updated at most steps of its life. An update is HOT (heap-only: no new
entry in any index, the old version pruned from the page) only when no indexed column
and no column of an index predicate changes and the new version fits on the page.
``status`` (in the open-work predicates and the open-status index) and ``sla_check_at``
(the sweeper's index) changed at almost every step, so none was HOT.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from complaintdesk.db import sla_checks

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN_STATUS = "status IN ('received', 'dispatched', 'in_progress', 'resolved', 'visited')"
_OPEN = "closed_at IS NULL"
_OPEN_INDEXES = [
    ("ix_complaints_open_assignee_due", ["assignee_id", "resolve_by"]),
    ("ix_complaints_open_receiver", ["first_receiver_id", "resolve_by"]),
    ("ix_complaints_open_project_due", ["project_id", "resolve_by"]),
]
FILLFACTOR = 85


def _complaint_leaves(conn: sa.Connection) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            sa.text(
                "SELECT p.relid::regclass::text FROM pg_partition_tree('complaints') p "
                "WHERE p.isleaf"
            )
        )
    ]


def upgrade() -> None:
    conn = op.get_bind()
    postgresql = conn.dialect.name == "postgresql"
    op.create_table(
        "sla_checks",
        sa.Column("complaint_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("check_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", name="pk_sla_checks"),
    )
    op.create_index("ix_sla_checks_due", "sla_checks", ["check_at"])
    sla_checks.install(conn)
    conn.execute(
        sa.text(
            "INSERT INTO sla_checks (complaint_id, check_at) SELECT id, sla_check_at "
            f"FROM complaints WHERE sla_check_at IS NOT NULL AND {_OPEN_STATUS}"
        )
    )
    op.drop_index("ix_complaints_open_sla_check", table_name="complaints")
    op.drop_index("ix_complaints_open_status", table_name="complaints")
    for name, columns in _OPEN_INDEXES:
        op.drop_index(name, table_name="complaints")
        op.create_index(
            name,
            "complaints",
            columns,
            postgresql_where=sa.text(_OPEN),
            sqlite_where=sa.text(_OPEN),
        )
    if postgresql:
        # Open work and closed_at go together: the open-work indexes rely on it.
        conn.execute(
            sa.text(
                "ALTER TABLE complaints ADD CONSTRAINT ck_complaints_closed_when_final "
                f"CHECK ((closed_at IS NULL) = ({_OPEN_STATUS}))"
            )
        )
        # Room on each page for the updated versions of its rows (HOT). A partitioned
        # table has no storage of its own: each month is set, and a new month takes
        # its predecessor's options (db/partitions.py). Pages already full keep
        # their rows; the option applies to pages filled from now on.
        for leaf in _complaint_leaves(conn):
            conn.execute(sa.text(f"ALTER TABLE {leaf} SET (fillfactor = {FILLFACTOR})"))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for leaf in _complaint_leaves(conn):
            conn.execute(sa.text(f"ALTER TABLE {leaf} RESET (fillfactor)"))
        conn.execute(
            sa.text("ALTER TABLE complaints DROP CONSTRAINT ck_complaints_closed_when_final")
        )
    for name, columns in _OPEN_INDEXES:
        op.drop_index(name, table_name="complaints")
        op.create_index(
            name,
            "complaints",
            columns,
            postgresql_where=sa.text(_OPEN_STATUS),
            sqlite_where=sa.text(_OPEN_STATUS),
        )
    for name, columns in [
        ("ix_complaints_open_status", ["status", "id"]),
        ("ix_complaints_open_sla_check", ["sla_check_at"]),
    ]:
        op.create_index(
            name,
            "complaints",
            columns,
            postgresql_where=sa.text(_OPEN_STATUS),
            sqlite_where=sa.text(_OPEN_STATUS),
        )
    sla_checks.uninstall(conn)
    op.drop_index("ix_sla_checks_due", table_name="sla_checks")
    op.drop_table("sla_checks")
