"""label confidences as four small integers (per 10,000) instead of a JSON object

Every complaint the classifier labels kept ``label_confidence``, a JSON object with
four floats: about 101 bytes of the row (the keys and numerics), in every version of
the row its updates write. Four ``smallint`` columns hold the same figures in 8 bytes:
``confidence_nature``, ``confidence_category``, ``confidence_urgency`` and
``confidence_department``, each the confidence times 10,000 (the classifier rounds
them to four decimals, so the API answers the same floats in [0, 1] as before; see
``Complaint.label_confidence``). NULL where no classifier labelled the complaint.

Existing rows are converted (an UPDATE of the complaints that have confidences: those
made through intake or an import that classified; generated history has none), then
the JSON column is dropped. On PostgreSQL the columns are added to the partitioned
table, so to every month's partition.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LABELS = ("nature", "category", "urgency", "department")
SCALE = 10_000


def upgrade() -> None:
    conn = op.get_bind()
    postgresql = conn.dialect.name == "postgresql"
    for label in LABELS:
        op.add_column("complaints", sa.Column(f"confidence_{label}", sa.SmallInteger()))
    if postgresql:
        sets = ", ".join(
            f"confidence_{label} = CASE WHEN jsonb_typeof(label_confidence -> '{label}') = "
            f"'number' THEN CAST(round(LEAST(GREATEST(CAST(label_confidence ->> '{label}' "
            f"AS numeric), 0), 1) * {SCALE}) AS smallint) END"
            for label in LABELS
        )
    else:
        sets = ", ".join(
            f"confidence_{label} = CASE WHEN json_type(label_confidence, '$.{label}') IN "
            f"('real', 'integer') THEN CAST(round(min(max(json_extract(label_confidence, "
            f"'$.{label}'), 0), 1) * {SCALE}) AS INTEGER) END"
            for label in LABELS
        )
    conn.execute(sa.text(f"UPDATE complaints SET {sets} WHERE label_confidence IS NOT NULL"))
    op.drop_column("complaints", "label_confidence")


def downgrade() -> None:
    conn = op.get_bind()
    postgresql = conn.dialect.name == "postgresql"
    json_type = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    op.add_column("complaints", sa.Column("label_confidence", json_type))
    build = "jsonb_build_object" if postgresql else "json_object"
    pairs = ", ".join(
        f"'{label}', CAST(confidence_{label} AS {'numeric' if postgresql else 'REAL'}) / {SCALE}"
        for label in LABELS
    )
    conn.execute(
        sa.text(
            f"UPDATE complaints SET label_confidence = {build}({pairs}) "
            "WHERE confidence_nature IS NOT NULL"
        )
    )
    for label in LABELS:
        op.drop_column("complaints", f"confidence_{label}")
