"""search terms and full-text indexes (GIN on PostgreSQL, FTS5 on SQLite); an index
for every list filter

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from complaintdesk.db import fts
from complaintdesk.domain.search import search_terms

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('received', 'dispatched', 'in_progress', 'resolved', 'visited')"
_PLAIN = [
    ("ix_complaints_assignee", ["assignee_id", "id"]),
    ("ix_complaints_receiver", ["first_receiver_id", "id"]),
    ("ix_complaints_category", ["category", "id"]),
    ("ix_complaints_urgency", ["urgency", "id"]),
    ("ix_complaints_department", ["department", "id"]),
]
_PARTIAL = [
    ("ix_complaints_open_status", ["status", "id"], _OPEN),
    ("ix_complaints_review", ["id"], "needs_review"),
    ("ix_complaints_repeat", ["id"], "repeat_of_id IS NOT NULL"),
    ("ix_complaints_risk", ["id"], "at_risk"),
]
# The expression the GIN index holds; queries must spell it the same way.
TSVECTOR = "to_tsvector('simple'::regconfig, search_terms)"
_BATCH = 2000


def _backfill() -> None:
    """Search terms for complaints written before this revision."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, text, summary FROM complaints WHERE id > :last ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            return
        bind.execute(
            sa.text("UPDATE complaints SET search_terms = :terms WHERE id = :id"),
            [{"id": r.id, "terms": search_terms(r.text, r.summary)} for r in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("search_terms", sa.Text(), server_default="", nullable=False))
    _backfill()
    for name, columns in _PLAIN:
        op.create_index(name, "complaints", columns)
    for name, columns, where in _PARTIAL:
        op.create_index(
            name,
            "complaints",
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    if dialect == "postgresql":
        op.execute(f"CREATE INDEX ix_complaints_search ON complaints USING gin ({TSVECTOR})")
    else:
        fts.install(op.get_bind(), rebuild=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_complaints_search")
    else:
        fts.uninstall(op.get_bind())
    for name, _ in _PLAIN:
        op.drop_index(name, "complaints")
    for name, _, _ in _PARTIAL:
        op.drop_index(name, "complaints")
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("search_terms")
