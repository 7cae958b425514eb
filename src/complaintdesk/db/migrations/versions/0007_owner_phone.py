"""owners by phone number alone (owner portal sign-in)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_owners_phone", "owners", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_owners_phone", table_name="owners")
