"""An HTTP client for the API, on the same rolled-back transaction as the test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Staff
from complaintdesk.services import accounts
from complaintdesk.web.app import create_app
from tests.conftest import NOW, Org


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Api:
    """Calls the API as one staff member or another."""

    client: TestClient
    tokens: dict[int, str] = field(default_factory=dict)

    def as_(self, staff: Staff) -> _As:
        return _As(self.client, self.tokens[staff.id])


@dataclass
class _As:
    client: TestClient
    token: str

    def _h(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.get(url, headers=self._h(kw.pop("headers", None)), **kw)

    def post(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.client.post(url, json=json, headers=self._h(kw.pop("headers", None)), **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.client.delete(url, headers=self._h(kw.pop("headers", None)), **kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(factory: sessionmaker[Session], session: Session, acme: Org, clock: Clock) -> Iterator[Api]:
    tokens = {}
    for name in (
        "guard",
        "agent",
        "engineer",
        "eng_supervisor",
        "manager",
        "admin",
        "cleaner_other_project",
        "outsider",
    ):
        staff: Staff = getattr(acme, name)
        tokens[staff.id] = accounts.issue_token(session, staff, NOW)
    session.commit()
    app = create_app(factory, classifier=KeywordClassifier(), clock=clock)
    with TestClient(app) as client:
        yield Api(client, tokens)
