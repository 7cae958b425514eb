"""Every free-text input goes through one cleaning rule, bodies have a size limit that
holds before authentication, and the OpenAPI document states what is enforced."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaintdesk.db.models import Event, Project
from complaintdesk.settings import get_settings
from tests.conftest import Org
from tests.web.conftest import Api


def _fields(r: Any) -> list[str]:
    return [e["field"] for e in r.json().get("errors", [])]


@pytest.mark.parametrize("phone", ["138\x000000001", "1380\x1b[2J00"])
def test_control_characters_in_a_query_are_422(api: Api, acme: Org, phone: str) -> None:
    r = api.as_(acme.agent).get("/api/v1/owners", params={"phone": phone})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert _fields(r) == ["phone"]


@pytest.mark.parametrize("code", ["P\x001", "P 1", "-P1", "项目", "P" * 41, ""])
def test_a_project_code_outside_the_code_shape_is_422(
    api: Api, acme: Org, session: Session, code: str
) -> None:
    before = session.scalar(select(func.count()).select_from(Project))
    r = api.as_(acme.admin).post("/api/v1/projects", json={"code": code, "name": "新项目"})
    assert r.status_code == 422, r.text
    assert _fields(r) == ["code"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Project)) == before


def _complaint(api: Api, acme: Org) -> str:
    r = api.as_(acme.agent).post(
        "/api/v1/complaints",
        json={"project_id": str(acme.project.id), "owner_id": str(acme.owner.id), "text": "漏水"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.mark.parametrize("note", ["\x1b[31mred\x1b[0m", "nul\x00", "csi\x9b2J"])
def test_a_dispatch_note_with_escape_codes_is_refused_and_nothing_stored(
    api: Api, acme: Org, session: Session, note: str
) -> None:
    cid = _complaint(api, acme)
    r = api.as_(acme.agent).post(
        f"/api/v1/complaints/{cid}/dispatch", json={"department": "engineering", "note": note}
    )
    assert r.status_code == 422, r.text
    assert _fields(r) == ["note"]
    session.expire_all()
    kinds = session.scalars(select(Event.kind).where(Event.complaint_id == int(cid))).all()
    assert "dispatch" not in kinds


def test_line_breaks_are_refused_in_one_line_values(api: Api, acme: Org) -> None:
    unit = [str(acme.unit.id)]
    r = api.as_(acme.agent).post("/api/v1/owners", json={"name": "王\n先生", "unit_ids": unit})
    assert r.status_code == 422 and _fields(r) == ["name"]
    r = api.as_(acme.agent).post("/api/v1/owners", json={"name": "   ", "unit_ids": unit})
    assert r.status_code == 422 and _fields(r) == ["name"]


def test_an_oversize_body_is_413_before_authentication(api: Api) -> None:
    limit = get_settings().max_body_bytes
    body = b'{"text": "' + b"x" * (limit + 1) + b'"}'
    # No token at all: the size is refused first, so nobody can make the server read it.
    r = api.client.post(
        "/api/v1/complaints", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 413


def test_a_chunked_body_is_counted_and_stopped_at_the_limit(api: Api) -> None:
    limit = get_settings().max_body_bytes
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(limit // 65_536 + 4):
            sent += 65_536
            yield b" " * 65_536

    r = api.client.post(
        "/api/v1/complaints", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert sent > limit


def test_a_declared_length_over_the_limit_is_refused_without_reading(api: Api) -> None:
    """Called as the server would: the app must answer without asking for the body."""
    app = api.client.app
    limit = get_settings().max_body_bytes
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/complaints",
        "raw_path": b"/api/v1/complaints",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(50 * limit).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"{", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert reads == 0


def test_the_openapi_document_states_errors_and_input_shapes(api: Api) -> None:
    doc = api.client.get("/api/v1/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status in ("401", "403", "404", "409", "413", "422", "429"):
                content = op["responses"][status]["content"]
                assert list(content) == ["application/problem+json"], (path, method, status)
    create = doc["components"]["schemas"]["ComplaintCreate"]["properties"]
    assert create["text"]["maxLength"] == 10_000 and "pattern" in create["text"]
    project = doc["components"]["schemas"]["ProjectCreate"]["properties"]
    assert project["code"]["pattern"] and project["code"]["maxLength"] == 40
    params = {p["name"]: p for p in doc["paths"]["/api/v1/owners"]["get"]["parameters"]}
    assert params["phone"]["schema"]["pattern"]
    json.dumps(doc)  # serialisable as is
