"""Browser tests: the app served by uvicorn on a free port, against a temporary
SQLite database, driven by Debian's headless Chromium through Playwright.

Skipped when /usr/bin/chromium is missing (``make test`` installs it first). The
server runs in a thread of the test process so the tests can move its clock and run
the sweeper on the same database.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.db.migrate import upgrade
from complaintdesk.db.models import Owner, Project, Staff, Unit
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import org
from complaintdesk.web.app import create_app
from tests.conftest import NOW

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-test-password"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    url: str
    clock: Clock
    factory: sessionmaker[Session]
    project: Project
    unit: Unit
    owner: Owner
    staff: dict[str, Staff] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'site.db'}")
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory() as session:
        company = org.create_company(session, code="sunrise", name="旭日物业 Sunrise")
        project = org.create_project(session, company, code="CH", name="翠湖花园 Emerald Lake")
        building = org.add_building(session, project, "8号楼")
        unit = org.add_unit(session, building, "8-1201")
        neighbour_unit = org.add_unit(session, building, "8-0902")
        owner = org.create_owner(
            session, company, name="王丽", phone="13800000001", unit_ids=[unit.id]
        )
        org.create_owner(
            session,
            company,
            name="Alice Smith",
            phone="13800000002",
            language="en",
            unit_ids=[neighbour_unit.id],
        )
        people = {}
        for username, name, department, role in (
            ("guard", "张保安", StaffDepartment.SECURITY, Role.STAFF),
            ("eng-sup", "李主管", StaffDepartment.ENGINEERING, Role.SUPERVISOR),
            ("eng", "陈师傅", StaffDepartment.ENGINEERING, Role.STAFF),
        ):
            person = org.create_staff(
                session,
                company,
                username=username,
                name=name,
                department=department,
                role=role,
                project_ids=[project.id],
                email=f"{username}@example.test",
            )
            org.set_password(session, person, PASSWORD)
            people[username] = person
        session.commit()
        for row in (project, unit, owner, *people.values()):
            session.refresh(row)
        session.expunge_all()
    clock = Clock()
    app = create_app(factory, clock=clock, secret_key="browser-test-secret")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}", clock, factory, project, unit, owner, people)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[object]:
    """Closed after its module: Playwright's sync API keeps an event loop running in
    this thread while it is open, and later tests run asyncio themselves."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


def advance(site: Site, **delta: float) -> datetime:
    site.clock.now += timedelta(**delta)
    return site.clock.now
