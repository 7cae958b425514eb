"""The dashboard's numbers, checked against complaints made through the services, on
both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Complaint, Staff
from complaintdesk.domain.errors import Forbidden, InvalidInput, NotFound
from complaintdesk.domain.taxonomy import Channel, Department
from complaintdesk.services import closing, dispatch, intake, reports, resolve, visits
from tests.conftest import NOW, Org

CLASSIFIER = KeywordClassifier()
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY1 = NOW - timedelta(days=2)  # 2026-10-31 09:00 UTC, 17:00 in Shanghai


def _labels(nature: str, category: str, department: str = "engineering") -> dict[str, str]:
    return {"nature": nature, "category": category, "urgency": "normal", "department": department}


def _register(
    session: Session,
    acme: Org,
    at: datetime,
    labels: dict[str, str],
    text: str,
    *,
    channel: Channel = Channel.PHONE,
    unit: bool = True,
    project_id: int | None = None,
    actor: Staff | None = None,
) -> Complaint:
    return intake.register(
        session,
        actor or acme.guard,
        intake.NewComplaint(
            project_id=project_id or acme.project.id,
            text=text,
            channel=channel,
            owner_id=acme.owner.id,
            unit_id=acme.unit.id if unit else None,
            labels=labels,
        ),
        CLASSIFIER,
        at,
    )


@dataclass
class Made:
    fixed: Complaint
    reopened: Complaint
    late: Complaint
    withdrawn: Complaint
    repeat: Complaint


def _make(session: Session, acme: Org) -> Made:
    # Fixed in time and visited satisfied: responded, resolved, on time, effective.
    fixed = _register(
        session, acme, DAY1, _labels("dissatisfaction", "equipment"), "8号楼电梯坏了,停在三楼"
    )
    dispatch.dispatch(
        session,
        acme.agent,
        fixed,
        DAY1 + timedelta(minutes=10),
        department=Department.ENGINEERING,
        assignee_id=acme.engineer.id,
    )
    resolve.resolve(
        session,
        acme.engineer,
        fixed,
        DAY1 + timedelta(hours=2),
        outcome=resolve.Outcome.FIXED,
        resolution="修好了",
    )
    visits.record_visit(session, acme.agent, fixed, DAY1 + timedelta(hours=3), satisfaction=5)
    # A question answered, then the owner was not satisfied: reopened.
    reopened = _register(
        session,
        acme,
        DAY1 + timedelta(minutes=30),
        _labels("consulting", "management", "customer_service"),
        "请问物业费每年什么时候交?",
        channel=Channel.WEB,
        unit=False,
    )
    dispatch.dispatch(
        session,
        acme.agent,
        reopened,
        DAY1 + timedelta(minutes=40),
        department=Department.CUSTOMER_SERVICE,
    )
    resolve.resolve(
        session,
        acme.eng_supervisor,
        reopened,
        DAY1 + timedelta(hours=1),
        outcome=resolve.Outcome.ANSWERED,
        resolution="每年一月缴纳",
    )
    visits.record_visit(session, acme.agent, reopened, DAY1 + timedelta(hours=2), satisfaction=2)
    # Received at 01:00 local on the next day (still the 31st in UTC); answered late.
    late_at = DAY1 + timedelta(hours=8)
    late = _register(
        session, acme, late_at, _labels("help_seeking", "building_quality"), "卫生间天花板渗水"
    )
    dispatch.dispatch(
        session, acme.agent, late, late_at + timedelta(days=2), department=Department.ENGINEERING
    )
    # Withdrawn the day after.
    withdrawn = _register(
        session,
        acme,
        DAY1 + timedelta(days=2, hours=-1),
        _labels("consulting", "neighborhood"),
        "楼上邻居晚上装修,可以管吗",
    )
    closing.withdraw(session, acme.agent, withdrawn, DAY1 + timedelta(days=2), reason="已自行解决")
    # The same owner on the same matter again: a repeat.
    repeat = _register(
        session,
        acme,
        DAY1 + timedelta(days=2),
        _labels("dissatisfaction", "equipment"),
        "8号楼电梯又坏了,还是停在三楼",
    )
    # Outside the window, and in another project: never counted below.
    _register(
        session,
        acme,
        DAY1 - timedelta(days=40),
        _labels("dissatisfaction", "equipment"),
        "车库入口道闸坏了",
    )
    _register(
        session,
        acme,
        DAY1,
        _labels("dissatisfaction", "service_quality"),
        "快递被保安弄丢了",
        project_id=acme.other_project.id,
        unit=False,
        actor=acme.admin,
    )
    return Made(fixed, reopened, late, withdrawn, repeat)


def _filters(**kw: object) -> reports.Filters:
    start = DAY1.astimezone(SHANGHAI).date()
    return reports.Filters(start=start, end=start + timedelta(days=2), **kw)  # type: ignore[arg-type]


def test_the_numbers_of_a_project(session: Session, acme: Org) -> None:
    made = _make(session, acme)
    assert made.repeat.repeat_of_id == made.fixed.id
    others = (made.fixed, made.reopened, made.late, made.withdrawn)
    assert all(c.repeat_of_id is None for c in others)
    assert made.late.response_breached
    r = reports.report(session, acme.manager, _filters(project_id=acme.project.id))
    assert r.zone == "Asia/Shanghai" and r.granularity == "day"
    # Local days: 10-31 fixed, reopened; 11-01 late (01:00 local, 10-31 in UTC);
    # 11-02 withdrawn, repeat.
    assert [(b.label, b.count) for b in r.volume] == [
        ("2026-10-31", 2),
        ("2026-11-01", 1),
        ("2026-11-02", 2),
    ]
    assert r.by_nature == {"consulting": 2, "dissatisfaction": 2, "help_seeking": 1}
    assert r.by_channel == {"phone": 4, "web": 1}
    assert r.by_category["equipment"] == 2 and sum(r.by_category.values()) == 5
    rates = r.rates
    assert rates.received == 4 and rates.withdrawn == 1
    assert rates.responded == 3  # fixed, reopened, late; not the repeat
    assert rates.resolved == 1  # fixed (the reopened one is back at work)
    assert (rates.visited, rates.satisfied) == (2, 1)
    assert (rates.decided, rates.on_time) == (2, 1)  # fixed on time, late breached
    assert rates.repeats == 1
    assert (rates.judged, rates.effective) == (1, 1)
    assert rates.response_rate == pytest.approx(3 / 4)
    assert rates.resolution_rate == pytest.approx(1 / 4)
    assert rates.satisfaction_rate == pytest.approx(1 / 2)
    assert rates.sla_compliance == pytest.approx(1 / 2)
    assert rates.repeat_rate == pytest.approx(1 / 4)
    assert rates.effective_rate == pytest.approx(1.0)
    top = [(p.building, p.category, p.count) for p in r.top_pairs]
    assert top[0] == ("8号楼", "equipment", 2)
    assert ("8号楼", "building_quality", 1) in top


def test_department_filter_and_the_whole_company(session: Session, acme: Org) -> None:
    _make(session, acme)
    eng = reports.report(session, acme.eng_supervisor, _filters(department=Department.ENGINEERING))
    assert sum(b.count for b in eng.volume) == 4  # all but the customer-service question
    everything = reports.report(session, acme.admin, _filters())
    assert sum(b.count for b in everything.volume) == 6  # with the other project's


def test_long_windows_are_bucketed_by_week_then_month(session: Session, acme: Org) -> None:
    _make(session, acme)
    end = DAY1.astimezone(SHANGHAI).date()
    weekly = reports.report(
        session, acme.manager, reports.Filters(start=end - timedelta(days=90), end=end)
    )
    assert weekly.granularity == "week"
    assert all(date.fromisoformat(b.label).weekday() == 0 for b in weekly.volume)
    monthly = reports.report(
        session, acme.manager, reports.Filters(start=end - timedelta(days=300), end=end)
    )
    assert monthly.granularity == "month"
    assert sum(b.count for b in monthly.volume) == 3  # the one 40 days earlier too


def test_who_may_read_and_what_is_refused(session: Session, acme: Org) -> None:
    with pytest.raises(Forbidden):
        reports.report(session, acme.engineer, _filters())
    with pytest.raises(NotFound):
        reports.report(session, acme.eng_supervisor, _filters(project_id=acme.other_project.id))
    with pytest.raises(InvalidInput) as err:
        start = date(2025, 1, 1)
        reports.report(
            session, acme.manager, reports.Filters(start=start, end=start + timedelta(days=400))
        )
    assert err.value.field == "start"
    with pytest.raises(InvalidInput):
        reports.report(
            session, acme.manager, reports.Filters(start=date(2026, 2, 1), end=date(2026, 1, 1))
        )
