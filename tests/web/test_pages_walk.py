"""Every page renders without a server error for every role, and for nobody.

The routes come from the app itself, so a page added later is walked too without
editing this test; a path parameter it does not know gets a plausible id.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.conftest import Org
from tests.web.conftest import Api, Browser, app_routes

Pages = Callable[..., Browser]
SKIP = ("/api/", "/assets", "/static/", "/docs", "/redoc", "/healthz")
ROLES = [
    None,
    "guard",
    "agent",
    "engineer",
    "eng_supervisor",
    "manager",
    "admin",
    "cleaner_other_project",
    "outsider",
]


def _complaint(api: Api, acme: Org) -> str:
    r = api.as_(acme.guard).post(
        "/api/v1/complaints",
        json={
            "project_id": acme.project.id,
            "owner_id": acme.owner.id,
            "text": "电梯坏了,困了人,我要投诉到12345",
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_without_a_server_error(
    pages: Pages, api: Api, acme: Org, role: str | None
) -> None:
    complaint_id = _complaint(api, acme)
    values = {
        "complaint_id": complaint_id,
        "code": "en",
        "owner_id": str(acme.owner.id),
        "project_id": str(acme.project.id),
    }
    browser = pages(getattr(acme, role) if role else None)
    paths = sorted(
        {
            re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "1"), route.path)
            for route in app_routes(browser.app)
            if "GET" in route.methods and not route.path.startswith(SKIP)
        }
    )
    assert "/work" in paths
    for path in paths:
        r = browser.client.get(path, follow_redirects=False)
        assert r.status_code < 500, (role, path, r.status_code, r.text[:500])
