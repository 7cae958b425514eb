"""search: the full-text index leads with the project (PostgreSQL, ``btree_gin``)

``ix_complaints_search`` was GIN over ``to_tsvector('simple', search_terms)`` alone, in
each month's partition: a search within a project took every match of the whole
company in the months it read from the index and visited each one's heap page before
keeping the project's. So it grew with the company, not with the project: at ten
million complaints "air conditioning" by relevance read 7.4 times the buffers it read
at one million (docs/capacity.md, "10M against 1M"), and at 300 million a project's
search would read its whole company's matches.

It is now GIN over ``(project_id, to_tsvector('simple', search_terms))`` (the
``btree_gin`` extension gives GIN the equality of a bigint). A search within a project
intersects the project's entries with the words' in the index and visits only the
project's matching rows: at one million, 288 buffers where it read 1,345, and 1.1 ms
where it took 1.9-3.4 (docs/capacity.md, session 9). A search without a project (an
admin's across the company) still uses the index by its words alone: GIN keeps each
column's entries apart. About 5 bytes a complaint more (90 MB against 85 at a million).

On PostgreSQL the index is made one month at a time, concurrently (``db/online.py``):
complaints are read and written while it is built; the old index is dropped and the
new one takes its name at the end, in a moment's lock. Run again after an interruption,
it goes on where it stopped. SQLite searches its FTS5 table: nothing changes there.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

from complaintdesk.db import online

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WORDS = "to_tsvector('simple'::regconfig, search_terms)"


def _build(keys: list[str], names: list[str]) -> None:
    conn = op.get_bind()
    with op.get_context().autocommit_block():
        online.build_index(
            conn, "complaints", "ix_complaints_search", keys, replace=True, using="gin",
            names=names,
        )  # fmt: skip


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Trusted since PostgreSQL 13: the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    _build(["project_id", _WORDS], ["project_id", "to_tsvector"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _build([_WORDS], ["to_tsvector"])
