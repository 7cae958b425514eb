"""Demo data: a company with three projects, staff of every role, owners, and
complaints in both languages spread over six months and in every state.

Everything is made through the same service functions the API uses, each step at
its own moment in the past, so the demo's history, deadlines, escalations and
messages are what real use would have left.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.base import Prediction, default_classifier
from complaintdesk.classify.generate import iter_generate
from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.models import Company, Outbox, Owner, Project, Staff, Unit
from complaintdesk.domain.errors import DomainError
from complaintdesk.domain.taxonomy import (
    Channel,
    Department,
    Role,
    StaffDepartment,
    display_name,
)
from complaintdesk.services import (
    accounts,
    closing,
    dispatch,
    follow_up,
    intake,
    org,
    resolve,
    visits,
)
from complaintdesk.services.escalation import sweep

DEMO_CODE = "demo"
SECOND_CODE = "harbour"
_SITE = "http://127.0.0.1:8000"
DEMO_OWNER_PHONE = "13800000000"
"""The demo owner who signs in to the portal (the code appears in the server's log)."""
DEMO_PASSWORD = "demo-password"  # every demo staff member's sign-in password (pages)
_PROJECTS = [
    ("CH", "翠湖花园 Emerald Lake", "深圳"),
    ("BJ", "滨江苑 Riverside", "杭州"),
    ("YG", "阳光城 Sunshine City", "成都"),
]
_SECOND_PROJECTS = [("HB", "海景湾 Harbour View", "厦门")]
_ZH_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_ZH_GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
]
_EN_FIRST = ["Alice", "Ben", "Chloe", "David", "Emma", "Frank", "Grace", "Henry", "Ivy", "Jack"]
_EN_LAST = ["Smith", "Brown", "Wilson", "Taylor", "Lee", "Martin", "Clark", "Walker"]


@dataclass(frozen=True)
class DemoResult:
    created: bool
    complaints: int
    tokens: dict[str, str]
    second_company_complaints: int = 0
    accounts: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.created:
            return "demo data already loaded (tokens were printed when it was made)"
        lines = [
            f"demo company '{DEMO_CODE}' loaded with {self.complaints} complaints.",
            "API tokens (shown once; use as 'Authorization: Bearer <token>'):",
        ]
        lines += [f"  {user:<22} {token}" for user, token in sorted(self.tokens.items())]
        lines += [
            f"second company '{SECOND_CODE}' with {self.second_company_complaints} complaints.",
            "",
            f"Sign in at {_SITE}/signin with the password {DEMO_PASSWORD!r} as:",
        ]
        lines += [f"  {user:<22} {what}" for user, what in self.accounts]
        lines += [
            f"  (and harbour-admin, hb-agent, hb-eng, hb-guard, hb-manager of the second "
            f"company '{SECOND_CODE}': give the company code if asked)",
            f"Owner portal: {_SITE}/portal/signin with the phone {DEMO_OWNER_PHONE}; the one-time "
            "code appears in the server's log (the log channel).",
        ]
        return "\n".join(lines)


def load_demo(
    factory: sessionmaker[Session],
    *,
    complaints: int,
    seed: int,
    now: datetime,
    owners_per_project: int = 400,
    if_empty: bool = False,
) -> DemoResult:
    with unit_of_work(factory) as session:
        existing = session.scalar(select(Company).where(Company.code == DEMO_CODE))
        if existing is not None:
            if if_empty:
                return DemoResult(False, 0, {})
            raise DomainError(f"company {DEMO_CODE!r} exists; the demo loads into an empty one")
        rng = random.Random(seed)
        company = org.create_company(session, code=DEMO_CODE, name="朝阳物业 Sunrise Property")
        sign_ins: list[tuple[str, str]] = []
        projects, staff, owners, tokens = _organisation(
            session, company, rng, now, owners_per_project, sign_ins=sign_ins
        )
    made = _complaints(factory, rng, projects, staff, owners, complaints, seed, now)
    with unit_of_work(factory) as session:
        company2 = org.create_company(session, code=SECOND_CODE, name="港湾物业 Harbour Property")
        projects2, staff2, owners2, tokens2 = _organisation(
            session,
            company2,
            rng,
            now,
            max(2, owners_per_project // 10),
            project_list=_SECOND_PROJECTS,
            admin="harbour-admin",
        )
        tokens.update(tokens2)
    made2 = _complaints(
        factory, rng, projects2, staff2, owners2, max(1, complaints // 20), seed + 1, now
    )
    sweep(factory, now)
    with unit_of_work(factory) as session:
        _history_delivered(session, [company.id, company2.id], now)
    return DemoResult(True, made, tokens, made2, sign_ins)


def _complaints(
    factory: sessionmaker[Session],
    rng: random.Random,
    projects: list[Project],
    staff: dict[int, list[Staff]],
    owners: dict[int, list[tuple[Owner, Unit]]],
    complaints: int,
    seed: int,
    now: datetime,
) -> int:
    """``complaints`` complaints over the last six months, each walked through the
    services as far as its age allows."""
    start = now - timedelta(days=180)
    made = 0
    records = list(iter_generate(complaints, seed))
    predictions = default_classifier().predict([r["text"] for r in records])
    moments = sorted(
        start + timedelta(seconds=rng.uniform(0, 180 * 86400)) for _ in range(complaints)
    )
    batch = 200
    for i in range(0, complaints, batch):
        with unit_of_work(factory) as session:
            for record, prediction, at in zip(
                records[i : i + batch],
                predictions[i : i + batch],
                moments[i : i + batch],
                strict=True,
            ):
                project = rng.choice(projects)
                _one_complaint(
                    session,
                    rng,
                    project,
                    staff[project.id],
                    owners[project.id],
                    record["text"],
                    prediction,
                    at,
                    now,
                    # Every hundredth is the portal owner's, so they have a history.
                    owner_unit=owners[projects[0].id][0] if made % 100 == 50 else None,
                )
                made += 1
    return made


def _history_delivered(session: Session, company_ids: list[int], now: datetime) -> None:
    """What the demo made is history: its messages count as delivered, so a new
    complaint's message is not queued behind thousands of old ones and a configured
    SMTP server or gateway is never sent the made-up past."""
    session.execute(
        update(Outbox)
        .where(Outbox.company_id.in_(company_ids), Outbox.status.in_(["pending", "sending"]))
        .values(status="sent", sent_at=Outbox.created_at, next_attempt_at=now)
    )


def _describe(role: Role, department: StaffDepartment) -> str:
    return (
        f"{display_name(role, 'zh')} {display_name(role, 'en')} · "
        f"{display_name(department, 'zh')} {display_name(department, 'en')}"
    )


def _organisation(
    session: Session,
    company: Company,
    rng: random.Random,
    now: datetime,
    owners_per_project: int,
    *,
    project_list: list[tuple[str, str, str]] = _PROJECTS,
    admin: str = "admin",
    sign_ins: list[tuple[str, str]] | None = None,
) -> tuple[
    list[Project], dict[int, list[Staff]], dict[int, list[tuple[Owner, Unit]]], dict[str, str]
]:
    projects, staff_by_project, owners_by_project, tokens = [], {}, {}, {}
    administrator = org.create_staff(
        session,
        company,
        username=admin,
        name="系统管理员",
        department=StaffDepartment.MANAGEMENT,
        role=Role.ADMIN,
    )
    tokens[admin] = accounts.issue_token(session, administrator, now, name="demo")
    # Everyone of the demo shares this password: hashed once (argon2 spends half a
    # second per hash on purpose), the same hash given to each.
    org.set_password(session, administrator, DEMO_PASSWORD)
    if sign_ins is not None:
        sign_ins.append((admin, _describe(Role.ADMIN, StaffDepartment.MANAGEMENT)))
    for code, name, city in project_list:
        project = org.create_project(session, company, code=code, name=name, city=city)
        projects.append(project)
        units = []
        for b in range(1, 5):
            building = org.add_building(session, project, f"{b}号楼")
            for floor in range(1, 7):
                for door in (1, 2):
                    units.append(org.add_unit(session, building, f"{b}-{floor:02d}0{door}"))
        people = []
        roster = [
            ("agent", StaffDepartment.CUSTOMER_SERVICE, Role.AGENT),
            ("cs-sup", StaffDepartment.CUSTOMER_SERVICE, Role.SUPERVISOR),
            ("eng", StaffDepartment.ENGINEERING, Role.STAFF),
            ("eng-sup", StaffDepartment.ENGINEERING, Role.SUPERVISOR),
            ("guard", StaffDepartment.SECURITY, Role.STAFF),
            ("sec-sup", StaffDepartment.SECURITY, Role.SUPERVISOR),
            ("cleaner", StaffDepartment.CLEANING, Role.STAFF),
            ("clean-sup", StaffDepartment.CLEANING, Role.SUPERVISOR),
            ("gardener", StaffDepartment.LANDSCAPING, Role.STAFF),
            ("land-sup", StaffDepartment.LANDSCAPING, Role.SUPERVISOR),
            ("cashier", StaffDepartment.FINANCE, Role.STAFF),
            ("fin-sup", StaffDepartment.FINANCE, Role.SUPERVISOR),
            ("manager", StaffDepartment.MANAGEMENT, Role.MANAGER),
        ]
        for username, department, role in roster:
            person = org.create_staff(
                session,
                company,
                username=f"{code.lower()}-{username}",
                name=f"{rng.choice(_ZH_SURNAMES)}{rng.choice(_ZH_GIVEN)}",
                department=department,
                role=role,
                project_ids=[project.id],
                email=f"{code.lower()}-{username}@sunrise.example",
            )
            people.append(person)
            if username in ("agent", "eng", "guard", "manager"):
                tokens[person.username] = accounts.issue_token(session, person, now, name="demo")
                person.password_hash = administrator.password_hash
            elif sign_ins is not None and len(projects) == 1:
                # The first project: one of every role, a supervisor of every department.
                person.password_hash = administrator.password_hash
            if sign_ins is not None and len(projects) == 1:
                sign_ins.append((person.username, _describe(role, department)))
        staff_by_project[project.id] = people
        owners = []
        for n in range(owners_per_project):
            unit = units[n % len(units)]
            english = rng.random() < 0.25
            owner_name = (
                f"{rng.choice(_EN_FIRST)} {rng.choice(_EN_LAST)}"
                if english
                else f"{rng.choice(_ZH_SURNAMES)}{rng.choice(_ZH_GIVEN)}"
            )
            phone = f"139{rng.randrange(10**8):08d}"
            channel = rng.choice(["sms", "wechat", "email"])
            # The first company's first owner is the one who signs in to the portal.
            if admin == "admin" and len(projects) == 1 and n == 0:
                owner_name, phone, english, channel = "王女士", DEMO_OWNER_PHONE, False, "sms"
            owner = org.create_owner(
                session,
                company,
                name=owner_name,
                phone=phone,
                email=f"owner{n}.{code.lower()}@example.com",
                language="en" if english else "zh",
                contact_channel=channel,
                unit_ids=[unit.id],
            )
            owners.append((owner, unit))
        owners_by_project[project.id] = owners
    return projects, staff_by_project, owners_by_project, tokens


def _one_complaint(
    session: Session,
    rng: random.Random,
    project: Project,
    staff: list[Staff],
    owners: list[tuple[Owner, Unit]],
    text: str,
    prediction: Prediction,
    at: datetime,
    now: datetime,
    *,
    owner_unit: tuple[Owner, Unit] | None = None,
) -> None:
    owner, unit = rng.choice(owners)
    if owner_unit is not None and unit.project_id == owner_unit[1].project_id:
        owner, unit = owner_unit
    receiver = rng.choice(staff)  # anyone receives complaints: first-question responsibility
    channel = rng.choice(list(Channel))
    complaint = intake.register(
        session,
        receiver,
        intake.NewComplaint(
            project_id=project.id,
            text=text,
            channel=channel,
            owner_id=owner.id,
            unit_id=unit.id,
            location=unit.name,
        ),
        default_classifier(),
        at,
        prediction=prediction,
    )
    age = now - at
    # Older complaints are further along; a few stay stuck so queues and escalations show.
    progress = min(1.0, age / timedelta(days=20)) * rng.uniform(0.6, 1.15)
    if rng.random() < 0.03:
        closing.withdraw(
            session,
            receiver,
            complaint,
            at + timedelta(hours=2),
            reason="业主表示问题已自行解决 / owner solved it",
        )
        return
    by_role = {(s.department, s.role): s for s in staff}
    agent = by_role[(StaffDepartment.CUSTOMER_SERVICE.value, Role.AGENT.value)]
    department = Department(complaint.department)
    worker = (
        by_role.get((department.value, Role.STAFF.value))
        or by_role[(department.value, Role.SUPERVISOR.value)]
    )
    t = at + timedelta(minutes=rng.uniform(3, 240))
    if progress < 0.15 or t > now:
        return
    try:
        dispatch.dispatch(
            session, agent, complaint, t, department=department, assignee_id=worker.id
        )
        t += timedelta(minutes=rng.uniform(10, 600))
        if progress < 0.3 or t > now:
            return
        dispatch.start(session, worker, complaint, t)
        if rng.random() < 0.4:
            t += timedelta(hours=rng.uniform(1, 12))
            follow_up.add_follow_up(
                session,
                worker,
                complaint,
                t,
                note=rng.choice(
                    ["已联系业主确认情况", "配件已订,等待到货", "Spoke to the owner, parts ordered"]
                ),
                next_follow_up_at=t + timedelta(days=1),
            )
        t += timedelta(hours=rng.expovariate(1 / 30))
        if progress < 0.5 or t > now:
            return
        outcome = (
            resolve.Outcome.ANSWERED
            if complaint.nature == "consulting"
            else (resolve.Outcome.FIXED)
        )
        resolve.resolve(
            session,
            worker,
            complaint,
            t,
            outcome=outcome,
            resolution=rng.choice(
                ["已维修完毕", "已安排专人处理并复查", "Repaired and checked", "已答复业主"]
            ),
        )
        t += timedelta(hours=rng.uniform(2, 60))
        if progress < 0.7 or t > now:
            return
        score = rng.choices([5, 4, 3, 2, 1], [45, 30, 12, 9, 4])[0]
        visits.record_visit(
            session,
            agent,
            complaint,
            t,
            satisfaction=score,
            comment=None if score >= 3 else "还是没解决 / still not right",
        )
        if score < 3:
            t += timedelta(hours=rng.uniform(4, 48))
            if t > now:
                return
            resolve.resolve(
                session,
                worker,
                complaint,
                t,
                outcome=resolve.Outcome.FIXED,
                resolution="返工处理 / redone",
            )
            t += timedelta(hours=rng.uniform(2, 24))
            if t > now:
                return
            visits.record_visit(session, agent, complaint, t, satisfaction=4)
        t += timedelta(hours=rng.uniform(1, 24))
        if progress < 0.8 or t > now:
            return
        closing.close(
            session,
            agent,
            complaint,
            t,
            closing.Summary(
                cause="设备老化 / ageing equipment",
                lesson="巡检频次不足 / inspections too rare",
                corrective_action="已维修更换 / repaired",
                preventive_action="纳入月度巡检 / monthly check",
            ),
        )
    except DomainError:
        # A state the random walk cannot take; the complaint stays where it is.
        return
