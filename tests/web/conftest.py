"""An HTTP client for the API, on the same rolled-back transaction as the test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Staff
from complaintdesk.services import accounts, org
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


PASSWORD = "correct horse battery"
SECRET = "test-secret-key-for-the-pages"


@dataclass
class Browser:
    """A cookie-keeping client of the pages, signed in as one staff member or none."""

    client: TestClient
    app: Any = None

    def csrf(self, path: str = "/signin") -> str:
        """The CSRF token of the form on ``path`` (getting it sets the cookie)."""
        html = self.client.get(path).text
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        token = self.csrf("/signin")
        return self.client.post(
            "/signin",
            data={"username": username, "password": password, "csrf_token": token},
            follow_redirects=False,
        )

    def post_form(
        self, path: str, data: dict[str, Any], *, token_from: str | None = None
    ) -> httpx.Response:
        # Any page of this browser carries its token (the cookie is per browser).
        token = self.csrf(token_from or "/work")
        return self.client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


@pytest.fixture
def pages(
    factory: sessionmaker[Session], session: Session, acme: Org, clock: Clock
) -> Iterator[Callable[[Staff | None], Browser]]:
    """``pages(staff)``: a browser signed in as ``staff`` (None: nobody); every staff
    member of ``acme`` has the password ``PASSWORD``."""
    org.set_password(session, acme.guard, PASSWORD)
    for name in (
        "agent",
        "engineer",
        "eng_supervisor",
        "manager",
        "admin",
        "cleaner_other_project",
        "outsider",
    ):
        # The same hash: argon2 is slow on purpose, and one hashing shows it works.
        getattr(acme, name).password_hash = acme.guard.password_hash
    session.commit()
    app = create_app(factory, classifier=KeywordClassifier(), clock=clock, secret_key=SECRET)
    clients: list[TestClient] = []

    def make(staff: Staff | None) -> Browser:
        client = TestClient(app, base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        browser = Browser(client, app)
        if staff is not None:
            r = browser.sign_in(staff.username)
            assert r.status_code == 303, r.text
        return browser

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]


def app_routes(app: Any, prefix: str = "") -> list[RouteInfo]:
    """Every route of ``app`` with its full path, included routers flattened (FastAPI
    0.16x keeps an included router as one entry that holds the original router)."""
    found: list[RouteInfo] = []
    for route in app.routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            inner = prefix + getattr(getattr(route, "include_context", None), "prefix", "")
            found += app_routes(original, inner)
        elif getattr(route, "methods", None):
            found.append(RouteInfo(prefix + route.path, frozenset(route.methods)))
    return found


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's cheapest parameters: the same code path, without half a second of
    deliberate work per hash on a loaded test machine."""
    monkeypatch.setattr(org, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
