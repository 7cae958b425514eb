"""Alembic environment: the engine comes from the caller (see ``migrate.py``)."""

from __future__ import annotations

from alembic import context

from complaintdesk.db.engine import make_engine
from complaintdesk.db.models import Base
from complaintdesk.settings import get_settings

config = context.config
engine = config.attributes.get("engine") or make_engine(get_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # Each migration commits on its own: the locks one takes are not held through
        # the next ones, and a failure leaves the database at the last migration that
        # finished. (One that builds over history on PostgreSQL commits month by month
        # inside it: db/online.py.)
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
