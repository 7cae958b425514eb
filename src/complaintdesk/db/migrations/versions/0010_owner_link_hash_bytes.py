"""owner links' token hash as 16 raw bytes instead of 64 hex characters

Every message to an owner carries a new link, so a complaint has several: their
hashes were most of the table and of its unique index. The first 16 bytes of the
SHA-256 are kept (the token has 128 random bits), converted from the hex stored so
far, so links already sent keep working.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(
                "ALTER TABLE owner_links ALTER COLUMN token_hash TYPE bytea "
                "USING decode(substr(token_hash, 1, 32), 'hex')"
            )
        )
        return
    # SQLite keeps a value's own type whatever the column says: convert each row.
    last = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT id, token_hash FROM owner_links WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            break
        converted = [
            {"id": r.id, "h": bytes.fromhex(r.token_hash[:32])}
            for r in rows
            if isinstance(r.token_hash, str)
        ]
        if converted:
            conn.execute(
                sa.text("UPDATE owner_links SET token_hash = :h WHERE id = :id"), converted
            )
        last = rows[-1].id
    with op.batch_alter_table("owner_links") as batch:
        batch.alter_column(
            "token_hash", type_=sa.LargeBinary(16), existing_type=sa.String(64), nullable=False
        )


def downgrade() -> None:
    # A hash cut to 16 bytes cannot be made whole again: links sent before would stop.
    raise NotImplementedError("0010 is not reversible: the stored hashes were shortened")
