"""Health, readiness, metrics, request ids, security headers and the access log."""

from __future__ import annotations

import json
import logging

import pytest

from complaintdesk.web.observe import JsonFormatter, configure_logging
from tests.conftest import Org
from tests.web.conftest import Api


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    r = api.client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["database"] == "ok"
    assert r.json()["checks"]["migrations"] == "ok"


def test_metrics_count_requests_by_route_template_and_read_the_database(
    api: Api, acme: Org
) -> None:
    api.as_(acme.agent).get(f"/api/v1/owners/{acme.owner.id}")
    body = api.client.get("/metrics").text
    assert 'route="/api/v1/owners/{owner_id}"' in body
    assert str(acme.owner.id) not in body  # templates, not paths
    for name in (
        "complaintdesk_http_request_seconds_bucket",
        "complaintdesk_outbox_backlog",
        "complaintdesk_outbox_oldest_pending_seconds",
        "complaintdesk_overdue_complaints",
    ):
        assert name in body, name


def test_every_response_has_a_request_id_and_security_headers(api: Api, acme: Org) -> None:
    r = api.as_(acme.agent).get(f"/api/v1/owners/{acme.owner.id}")
    assert len(r.headers["x-request-id"]) >= 8
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    given = api.client.get("/healthz", headers={"X-Request-ID": "abc12345-trace"})
    assert given.headers["x-request-id"] == "abc12345-trace"
    odd = api.client.get("/healthz", headers={"X-Request-ID": "x;\t<script>"})
    assert odd.headers["x-request-id"] != "x;\t<script>"  # not echoed: a fresh one


def test_the_access_log_is_json_with_caller_route_time_and_masked_contacts(
    api: Api, acme: Org, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="complaintdesk.access"):
        r = api.as_(acme.agent).get("/api/v1/owners", params={"phone": "13800000001"})
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name.endswith("access")]
    line = next(x for x in lines if x["route"] == "/api/v1/owners")
    assert line["request_id"] == r.headers["x-request-id"]
    assert line["caller"] == f"staff:{acme.agent.id}"
    assert line["status"] == 200 and line["ms"] >= 0
    assert "13800000001" not in caplog.text and "138****0001" in line["path"]


def test_serve_writes_the_access_line_once_as_json_with_its_fields(
    api: Api, acme: Org, caplog: pytest.LogCaptureFixture
) -> None:
    """What ``serve`` writes (JsonFormatter): the line's fields at the top level beside
    time, level and logger, contacts masked, the same as the message read as text."""
    with caplog.at_level(logging.INFO, logger="complaintdesk.access"):
        r = api.as_(acme.agent).get("/api/v1/owners", params={"phone": "13800000002"})
    record = next(
        rec
        for rec in caplog.records
        if rec.name.endswith("access") and "/api/v1/owners" in rec.getMessage()
    )
    written = json.loads(JsonFormatter().format(record))
    assert written["logger"] == "complaintdesk.access" and written["level"] == "info"
    assert written["time"] and "message" not in written
    assert written["request_id"] == r.headers["x-request-id"]
    assert written["route"] == "/api/v1/owners" and written["status"] == 200
    assert "138****0002" in written["path"] and "13800000002" not in json.dumps(written)
    as_text = json.loads(record.getMessage())
    assert {k: written[k] for k in as_text} == as_text
    # Any other message is still written as a message, masked.
    other = logging.LogRecord("x", logging.WARNING, __file__, 1, "call 13800000003", None, None)
    assert json.loads(JsonFormatter().format(other))["message"] == "call 138****0003"


def test_readiness_under_serve_logs_no_line_of_alembic_about_its_ddl(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    migration = logging.getLogger("alembic.runtime.migration")
    root = logging.getLogger()
    saved = root.handlers[:], root.level, migration.level
    try:
        configure_logging()
        root.addHandler(caplog.handler)  # configure_logging put its own handler alone
        with caplog.at_level(logging.INFO):
            assert api.client.get("/readyz").status_code == 200
        assert not [r for r in caplog.records if r.name == "alembic.runtime.migration"]
        assert [r for r in caplog.records if r.name == "complaintdesk.access"]  # it logs
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        migration.setLevel(saved[2])
