"""The baseline for bench_create.py: a bare FastAPI app that does one INSERT per POST.

Same stack as ComplaintDesk's create (FastAPI, a pydantic body, a sync handler in
the thread pool, SQLAlchemy with a pooled psycopg connection, one commit per
request), none of its work (no token, no classification, no events, no outbox).
Served the same way: ``uvicorn bare_app:bare_app --factory --workers N``, with
``DATABASE_URL`` pointing at a database holding the ``bench_bare`` table.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from complaintdesk.db.engine import make_engine

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_bare "
    "(id bigint PRIMARY KEY, text text NOT NULL, created_at timestamptz NOT NULL)"
)


class Item(BaseModel):
    text: str


def bare_app() -> FastAPI:
    engine = make_engine(
        os.environ["DATABASE_URL"],
        pool_size=int(os.environ.get("COMPLAINTDESK_DB_POOL_SIZE", "10")),
        max_overflow=int(os.environ.get("COMPLAINTDESK_DB_MAX_OVERFLOW", "5")),
    )
    app = FastAPI()
    insert = text("INSERT INTO bench_bare (id, text, created_at) VALUES (:id, :text, :at)")

    @app.post("/items", status_code=201)
    def create(item: Item) -> dict[str, str]:
        row_id = random.getrandbits(62)
        with engine.begin() as conn:
            conn.execute(insert, {"id": row_id, "text": item.text, "at": datetime.now(UTC)})
        return {"id": str(row_id)}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
