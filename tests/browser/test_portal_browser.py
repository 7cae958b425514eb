"""In a real headless Chromium, in both languages: the owner signs in with a code,
follows their complaint and rates the visit (unsatisfied reopens it); a supervisor
reads the dashboard. Screenshots are kept as artifacts (and the docs' pictures)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.db.migrate import upgrade
from complaintdesk.db.models import Complaint, Outbox
from complaintdesk.domain.taxonomy import Channel, Department
from complaintdesk.services import dispatch, intake, org, resolve
from complaintdesk.web.app import create_app
from tests.conftest import build_org

CHROMIUM = "/usr/bin/chromium"  # Debian's package; make test installs it

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "screenshots"
DOCS = ROOT / "docs" / "img"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    base: str
    factory: sessionmaker[Session]
    browser: Any
    contexts: list[Any] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def _page(self, lang: str, **options: Any) -> Any:
        context = self.browser.new_context(locale="zh-CN" if lang == "zh" else "en-US", **options)
        context.add_cookies([{"name": "cd_lang", "value": lang, "url": self.base}])
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    def phone(self, lang: str) -> Any:
        return self._page(
            lang, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )

    def desk(self, lang: str) -> Any:
        return self._page(lang, viewport={"width": 1280, "height": 900})

    def sign_in(self, page: Any, username: str, password: str, company: str) -> None:
        page.goto(self.url("/signin"))
        page.fill("input[name=company]", company)  # each test has its own company
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Any) -> Iterator[LiveServer]:
    """One server for the module over a SQLite database of its own; each test makes
    its own company in it."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('portal-browser') / 'site.db'}")
    upgrade(engine)
    factory = make_sessionmaker(engine)
    app = create_app(factory, classifier=KeywordClassifier(), secret_key="browser-test-secret")
    port = _free_port()
    uvicorn_server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        if time.monotonic() > deadline:
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", factory, chromium)
    uvicorn_server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture
def live(server: LiveServer) -> Iterator[LiveServer]:
    yield server
    for context in server.contexts:
        context.close()
    server.contexts.clear()


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Keep a screenshot as a test artifact (var/screenshots); with
    COMPLAINTDESK_DOC_SCREENSHOTS=1 also as the docs' picture of the page."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    data = page.screenshot(full_page=full_page)
    (ARTIFACTS / f"{name}.png").write_bytes(data)
    if os.environ.get("COMPLAINTDESK_DOC_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        page_name, lang = name.rsplit("-", 1)
        (DOCS / f"{lang}-{page_name}.png").write_bytes(data)


PASSWORD = "correct horse battery"


def _prepare(factory: sessionmaker[Session]) -> dict[str, str]:
    """A company with a complaint waiting for its return visit, made a few hours ago."""
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        acme = build_org(session)
        org.set_password(session, acme.eng_supervisor, PASSWORD)
        org.set_password(session, acme.manager, PASSWORD)
        complaint = intake.register(
            session,
            acme.agent,
            intake.NewComplaint(
                project_id=acme.project.id,
                text="8号楼电梯停了两天了,还没人来修",
                channel=Channel.PHONE,
                owner_id=acme.owner.id,
                unit_id=acme.unit.id,
            ),
            KeywordClassifier(),
            now - timedelta(hours=5),
        )
        dispatch.dispatch(
            session,
            acme.agent,
            complaint,
            now - timedelta(hours=4),
            department=Department.ENGINEERING,
            assignee_id=acme.engineer.id,
        )
        resolve.resolve(
            session,
            acme.engineer,
            complaint,
            now - timedelta(hours=1),
            outcome=resolve.Outcome.FIXED,
            resolution="更换了电梯门机板",
        )
        return {
            "phone": acme.owner.phone or "",
            "complaint": str(complaint.id),
            "supervisor": acme.eng_supervisor.username,
            "manager": acme.manager.username,
            "project": str(acme.project.id),
            "company": acme.company.code,
        }


def _code(factory: sessionmaker[Session], phone: str) -> str:
    with factory() as session:
        body = session.scalars(
            select(Outbox.body)
            .where(Outbox.recipient == phone, Outbox.kind == "sign_in_code")
            .order_by(Outbox.id.desc())
        ).first()
    assert body is not None
    found = re.search(r"\d{6}", body)
    assert found is not None
    return found.group(0)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_owner_signs_in_with_a_code_follows_and_rates_the_visit(
    live: LiveServer, lang: str
) -> None:
    made = _prepare(live.factory)
    page = live.phone(lang)
    page.goto(live.url("/portal/signin"))
    shot(page, f"portal-signin-{lang}")
    page.fill("[data-test=phone]", made["phone"])
    page.click("[data-test=send-code]")
    page.wait_for_selector("[data-test=code-sent]")
    page.fill("[data-test=code]", _code(live.factory, made["phone"]))
    page.click("[data-test=sign-in]")
    page.wait_for_url(re.compile(r".*/portal$"))
    shot(page, f"portal-home-{lang}")
    page.click(f"a[href='/portal/c/{made['complaint']}']")
    page.wait_for_selector("[data-test=timeline]")
    timeline = page.inner_text("[data-test=timeline]")
    assert ("更换了电梯门机板" in timeline) and (
        ("已处理" in timeline) if lang == "zh" else ("Dealt with" in timeline)
    )
    shot(page, f"portal-complaint-{lang}")
    page.check("[data-test=score-2]")
    page.fill("[data-test=comment]", "还是有异响" if lang == "zh" else "Still noisy")
    page.click("[data-test=send-rating]")
    page.wait_for_selector("[data-test=status]")
    status = page.inner_text("[data-test=status]")
    assert status == ("已派单" if lang == "zh" else "Dispatched")
    assert "[data-test=rate]" not in page.content()
    shot(page, f"portal-reopened-{lang}")
    with live.factory() as session:
        complaint = session.get(Complaint, int(made["complaint"]))
        assert complaint is not None and complaint.reopen_count == 1


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_supervisor_reads_the_dashboard(live: LiveServer, lang: str) -> None:
    made = _prepare(live.factory)
    page = live.desk(lang)
    live.sign_in(page, made["supervisor"], PASSWORD, made["company"])
    page.goto(live.url("/dashboard"))
    page.wait_for_selector("body[data-charts-ready='6']")
    rates = page.inner_text("[data-test=rates]")
    assert ("办结率" in rates) if lang == "zh" else ("Resolution rate" in rates)
    assert page.locator("#chart-volume svg").count() == 1
    shot(page, f"dashboard-{lang}", full_page=True)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_manager_sets_the_projects_time_zone_and_targets(live: LiveServer, lang: str) -> None:
    made = _prepare(live.factory)
    page = live.desk(lang)
    live.sign_in(page, made["manager"], PASSWORD, made["company"])
    page.goto(live.url(f"/admin/projects/{made['project']}"))
    page.fill("[data-test=timezone]", "Asia/Hong_Kong")
    page.fill("input[name=sla_high_response]", "90")
    page.click("[data-test=save-project]")
    page.wait_for_selector("[data-test=buildings]")
    assert page.input_value("[data-test=timezone]") == "Asia/Hong_Kong"
    assert page.input_value("input[name=sla_high_response]") == "90"
    shot(page, f"admin-project-{lang}", full_page=True)
