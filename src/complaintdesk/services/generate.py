"""Synthetic complaint history at speed, through the bulk write path.

``generate(factory, rows=N)`` makes a company with projects, buildings, units, owners
and staff, then ``N`` complaints spread over the last ``years`` with their whole
lifecycles (events, follow-ups, return visits with satisfaction, closing summaries),
written in batches by :mod:`services.bulk` (COPY on PostgreSQL). It is what a
benchmark or a capacity test fills its database with:

- both languages, texts from the classifier's generator (``classify/generate.py``),
  with their labels;
- categories by season and hour: equipment (heating, air conditioning) in winter and
  high summer, building leaks in the rainy season, more complaints in the evening;
- repeats (the same owner back on the same matter within days) and incidents (many
  owners of one building within a few hours about one event);
- risk flags found in the words as the write path finds them (``at_risk``), and
  ``needs_review`` where the classifier is unsure of the words until the complaint was
  dispatched (whoever dispatches checks the labels; that check is not written as an
  event, nor is the risk flag: the import writes neither);
- most history closed (a few withdrawn), recent complaints at every stage, and a share
  of older ones still open and overdue;
- owner messages older than the outbox's retention are gone, their delivery kept in
  the event that caused them, as :func:`services.retention.purge_outbox` leaves them;
- written in time order, as a live system writes them: the run's batches follow each
  other through the years (each its own stretch of time, of equal weight; only its
  repeats, 6 %, come up to 20 days after it), so each month's rows lie in the order
  of their ids and a batch's inserts touch the few index pages of its own stretch,
  not pages all over three years' indexes (which stopped fitting in memory past
  about 18 million complaints here: docs/capacity.md, "Generating history",
  session 10).

Deterministic for a seed and ``now``.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import time
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.base import default_classifier
from complaintdesk.classify.generate import iter_generate
from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.ids import new_id
from complaintdesk.db.models import Building, Owner, OwnerUnit, Unit
from complaintdesk.domain import rules, sla
from complaintdesk.domain.lifecycle import Outcome, Status, is_effective
from complaintdesk.domain.search import search_terms
from complaintdesk.domain.taxonomy import Category, Role, StaffDepartment, Urgency
from complaintdesk.services import bulk, org, retention

BUILDINGS_PER_PROJECT = 30
UNITS_PER_BUILDING = 100
ROWS_PER_PROJECT = 100_000
TEXT_POOL = 20_000
REPEAT_SHARE = 0.06
INCIDENT_SHARE = 0.004
RETENTION = timedelta(days=30)
C = {name: bulk.col(name) for name in bulk.STAGE_COLUMNS}
"""Positions of the stage row's columns."""

# Relative weight of each category by month (1 … 12): heating and cooling break in
# winter and high summer, leaks come with the rains, neighbours are loud in summer.
_SEASON: dict[Category, list[float]] = {
    Category.EQUIPMENT: [1.6, 1.5, 1.1, 0.9, 0.9, 1.1, 1.5, 1.6, 1.1, 0.9, 1.1, 1.5],
    Category.BUILDING_QUALITY: [0.7, 0.7, 0.9, 1.1, 1.4, 1.8, 1.8, 1.5, 1.1, 0.9, 0.7, 0.7],
    Category.NEIGHBORHOOD: [0.8, 1.0, 0.9, 1.0, 1.1, 1.2, 1.4, 1.4, 1.1, 1.0, 0.9, 0.8],
    Category.MANAGEMENT: [1.4, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.4],
}
# More complaints in the evening, few at night.
_HOURS = [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.4, 1.5, 1.4, 1.2,
          1.0, 1.0, 1.1, 1.1, 1.2, 1.4, 1.8, 2.2, 2.3, 1.9, 1.2, 0.5]  # fmt: skip
_SATISFACTION = [1, 2, 3, 4, 5]
_SATISFACTION_CUM = list(itertools.accumulate([0.03, 0.06, 0.2, 0.4, 0.31]))
_CHANNELS = ("phone", "phone", "wechat", "app", "walk_in", "web")
# The lifecycle's steps: (moment column, event column, least and most seconds after the
# step before, the status it leaves).
_STEPS = [
    (C["dispatched_at"], C["ev_dispatched"], 5 * 60.0, 4 * 3600.0, Status.DISPATCHED),
    (C["started_at"], C["ev_started"], 10 * 60.0, 24 * 3600.0, Status.IN_PROGRESS),
    (C["resolved_at"], C["ev_resolved"], 3600.0, 4 * 86400.0, Status.RESOLVED),
    (C["visited_at"], C["ev_visited"], 2 * 3600.0, 3 * 86400.0, Status.VISITED),
    (C["closed_at"], C["ev_closed"], 10 * 60.0, 86400.0, Status.CLOSED),
]
_MONTH = timedelta(days=30)
_FIVE_DAYS = timedelta(days=5)
_NOTES = {
    "zh": [
        "已联系业主,约定明天上门",
        "已派维修工到场查看",
        "配件已订,预计两天到货",
        "已电话回复业主",
    ],
    "en": ["Called the owner, visit booked", "Technician on site", "Part ordered", "Owner updated"],
}
_RESOLUTIONS = {
    "zh": ["已更换损坏部件并测试正常", "已清理完毕", "已向业主说明情况", "已协调相关部门处理"],
    "en": [
        "Replaced the faulty part, tested",
        "Cleaned up",
        "Explained to the owner",
        "Sorted out",
    ],
}
_CAUSES = {
    "zh": ("设备老化未及时巡检", "增加巡检频次,建立更换台账"),
    "en": ("Ageing equipment missed in inspections", "More frequent inspections, a parts log"),
}


@dataclass
class GenerateReport:
    complaints: int = 0
    events: int = 0
    projects: int = 0
    owners: int = 0
    seconds: float = 0.0
    deferred_indexes: int = 0  # secondary indexes made after the load (empty database)
    index_seconds: float = 0.0  # of ``seconds``: making them
    reserved_ids: bool = False  # ids by batch number (empty history tables)

    @property
    def rate(self) -> float:
        return self.complaints / self.seconds if self.seconds else 0.0


@dataclass
class _Project:
    id: int
    policy: sla.SlaPolicy
    staff: dict[str, int]  # role/department key -> staff id
    owners: list[int]  # owner ids by unit, building after building
    phones: list[str]


def _texts(rng: random.Random, seed: int) -> dict[Category, list[dict[str, str]]]:
    pools: dict[Category, list[dict[str, str]]] = {c: [] for c in Category}
    for record in iter_generate(TEXT_POOL, seed=seed):
        pools[Category(record["category"])].append(record)
    return {c: p for c, p in pools.items() if p}


def _organisation(
    session: Session, rng: random.Random, code: str, projects: int
) -> tuple[int, list[_Project]]:
    company = org.create_company(session, code=code, name=f"{code} 物业集团")
    made: list[_Project] = []
    for p in range(projects):
        project = org.create_project(session, company, code=f"P{p + 1:04d}", name=f"第{p + 1}小区")
        staff: dict[str, int] = {}
        for key, dept, role in (
            ("agent", StaffDepartment.CUSTOMER_SERVICE, Role.AGENT),
            ("engineering", StaffDepartment.ENGINEERING, Role.STAFF),
            ("security", StaffDepartment.SECURITY, Role.STAFF),
            ("cleaning", StaffDepartment.CLEANING, Role.STAFF),
            ("supervisor", StaffDepartment.ENGINEERING, Role.SUPERVISOR),
            ("manager", StaffDepartment.MANAGEMENT, Role.MANAGER),
        ):
            staff[key] = org.create_staff(
                session, company, username=f"p{p + 1}-{key}", name=f"P{p + 1} {key}",
                department=dept, role=role, project_ids=[project.id],
            ).id  # fmt: skip
        buildings, units, owners, links = [], [], [], []
        owner_ids: list[int] = []
        phones: list[str] = []
        for b in range(BUILDINGS_PER_PROJECT):
            building_id = new_id()
            buildings.append({"id": building_id, "project_id": project.id, "name": f"{b + 1}号楼"})
            for u in range(UNITS_PER_BUILDING):
                unit_id, owner_id = new_id(), new_id()
                name = f"{b + 1}-{u + 1:04d}"
                units.append(
                    {"id": unit_id, "building_id": building_id, "project_id": project.id,
                     "name": name}
                )  # fmt: skip
                english = rng.random() < 0.3
                owners.append({
                    "id": owner_id, "company_id": company.id,
                    "name": f"Owner {b + 1}-{u + 1}" if english else f"业主{b + 1}-{u + 1}",
                    "phone": f"1{p:04d}{b:02d}{u:04d}"[:11].ljust(11, "0"),
                    "email": None, "language": "en" if english else "zh",
                    "contact_channel": "sms" if rng.random() < 0.7 else "wechat",
                    "created_at": datetime(2020, 1, 1).astimezone(),
                })  # fmt: skip
                links.append({"owner_id": owner_id, "unit_id": unit_id})
                phones.append(str(owners[-1]["phone"]))
                owner_ids.append(owner_id)
        session.execute(insert(Building), buildings)
        session.execute(insert(Unit), units)
        session.execute(insert(Owner), owners)
        session.execute(insert(OwnerUnit), links)
        made.append(_Project(project.id, sla.DEFAULT_POLICY, staff, owner_ids, phones))
    return company.id, made


class _Maker:
    """Makes the stage rows of one complaint (and of the repeats and incidents it
    sets off)."""

    def __init__(
        self,
        rng: random.Random,
        company_id: int,
        projects: list[_Project],
        texts: dict[Category, list[dict[str, str]]],
        now: datetime,
        start: datetime,
    ) -> None:
        self.rng = rng
        self.company_id = company_id
        self.projects = projects
        self.texts = texts
        self.now = now
        self.start = start
        self.first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        # The weight of every hour from the first day's midnight to now, added up: a
        # moment is drawn by its weight within the current stretch (``place``).
        hours = -(-int((now - self.first_day).total_seconds()) // 3600)
        self.hour_cum = list(itertools.accumulate(_HOURS[h % 24] for h in range(hours)))
        self.place(0, 1)
        self.categories = list(texts)
        self.base_w = [float(len(texts[c])) for c in self.categories]
        # Cumulative category weights of each month (1 … 12, index 0 unused).
        self.month_cum: list[list[float]] = [[]] + [
            list(
                itertools.accumulate(
                    w * _SEASON.get(c, [1.0] * 12)[month - 1]
                    for c, w in zip(self.categories, self.base_w, strict=True)
                )
            )
            for month in range(1, 13)
        ]
        self.last_moment = now - timedelta(minutes=1)
        # What the write path derives from each text of the pool, made once (texts
        # repeat): search terms and risk flags; whether the classifier was unsure of
        # it, asked for a batch's new texts at a time.
        self.derived: dict[str, tuple[str, str, bool]] = {}
        self.unsure: dict[str, bool] = {}
        self.classifier = default_classifier()

    def _derive(self, words: str) -> tuple[str, str, bool]:
        risks = [r.value for r in rules.risk_flags(words)]
        found = (search_terms(words, None), bulk.dumps(risks), bool(risks))
        self.derived[words] = found
        return found

    def _mark_unsure(self, rows: list[list[Any]]) -> None:
        """``needs_review`` where the classifier is unsure of the words, until someone
        dispatched the complaint (whoever dispatches checks the labels)."""
        text, waiting = C["text"], C["dispatched_at"]
        new = list({row[text] for row in rows if row[text] not in self.unsure})
        for words, prediction in zip(new, self.classifier.predict(new), strict=True):
            self.unsure[words] = prediction.needs_review
        for row in rows:
            row[C["needs_review"]] = row[waiting] is None and self.unsure[row[text]]

    def place(self, part: int, parts: int) -> None:
        """Make the next moments in the ``part``-th of ``parts`` stretches of time of
        equal weight (the run's batches, in time order)."""
        total = self.hour_cum[-1]
        self.low = total * part / parts
        self.width = total / parts

    def moment(self) -> datetime:
        """A moment of the current stretch: an hour by its weight (more in the
        evening, few at night; every day alike), then a millisecond of it."""
        cum = self.hour_cum
        point = self.low + self.rng.random() * self.width
        hour = min(bisect(cum, point), len(cum) - 1)
        weight = _HOURS[hour % 24]
        into = (point - (cum[hour] - weight)) / weight  # how far into the hour
        at = self.first_day + timedelta(milliseconds=int((hour + into) * 3_600_000))
        return min(at, self.last_moment)

    def category(self, at: datetime) -> Category:
        weights = self.month_cum[at.month]
        return self.categories[bisect(weights, self.rng.random() * weights[-1])]

    def batch(self, count: int) -> list[list[Any]]:
        rows: list[list[Any]] = []
        repeats: list[tuple[int, int]] = []  # (row, the row it repeats)
        while len(rows) < count:
            project = self.rng.choice(self.projects)
            at = self.moment()
            category = self.category(at)
            owner_i = self.rng.randrange(len(project.owners))
            rows.append(self.one(project, owner_i, at, category))
            roll = self.rng.random()
            if roll < REPEAT_SHARE:
                again = at + timedelta(hours=self.rng.uniform(6, 24 * 20))
                if again < self.now:
                    repeats.append((len(rows), len(rows) - 1))
                    rows.append(
                        self.one(project, owner_i, again, category, nature="dissatisfaction")
                    )
            elif roll < REPEAT_SHARE + INCIDENT_SHARE:
                # An incident: owners of one building, within three hours, one event.
                first = owner_i - owner_i % UNITS_PER_BUILDING
                for _ in range(self.rng.randint(5, 30)):
                    when = at + timedelta(minutes=self.rng.uniform(1, 180))
                    if when < self.now:
                        unit = first + self.rng.randrange(UNITS_PER_BUILDING)
                        rows.append(self.one(project, unit, when, category))
        rows = rows[:count]
        self._repeats = [(r, e) for r, e in repeats if r < count]
        self._mark_unsure(rows)
        return rows

    def link_repeats(self, rows: list[list[Any]]) -> None:
        """After ids are given: each repeat points at the complaint it repeats, on the
        row and in its ``received`` event (``data.repeat_of``, the earlier id as a
        string), as the live path records it (services/intake.py)."""
        data = C["received_data"]
        for row_i, earlier_i in self._repeats:
            row, earlier = rows[row_i], rows[earlier_i][C["id"]]
            row[C["repeat_of_id"]] = earlier
            # The received event's data is JSON text made in one() (a delivery record,
            # or none while the message is still in the outbox).
            made = row[data]
            row[data] = (
                f'{{"repeat_of":"{earlier}"}}'
                if made is None
                else f'{{"repeat_of":"{earlier}",{made[1:]}'
            )

    def one(
        self,
        project: _Project,
        owner_i: int,
        at: datetime,
        category: Category,
        nature: str | None = None,
    ) -> list[Any]:
        rng = self.rng
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # what an id can say
        record = rng.choice(self.texts[category])
        words = record["text"]
        terms, risks, at_risk = self.derived.get(words) or self._derive(words)
        lang = "en" if words[:1].isascii() else "zh"
        urgency = Urgency(record["urgency"])
        nature = nature or record["nature"]
        targets = project.policy.for_urgency(urgency)
        department = record["department"]
        assignee = project.staff.get(department, project.staff["engineering"])
        receiver = project.staff["agent"]
        row = bulk.new_row(
            company_id=self.company_id, project_id=project.id, owner_id=project.owners[owner_i],
            channel=rng.choice(_CHANNELS),
            text=words, search_terms=terms, received_at=at, first_receiver_id=receiver,
            nature=nature, category=category.value, urgency=urgency.value, department=department,
            label_source="auto", model_version="generated", needs_review=False,
            upgraded=False, clock_started_at=at, respond_by=at + targets.response,
            resolve_by=at + targets.resolution, response_level=0, resolution_level=0,
            visit_level=0, response_breached=False, resolution_breached=False,
            risk_flags=risks, at_risk=at_risk, reopen_count=0, version=1, ev_received=True,
            steps_known=True,
        )  # fmt: skip
        age = self.now - at
        # How far along its life it got: old complaints are mostly closed, a few
        # still open (overdue); recent ones at every stage.
        roll = rng.random()
        if age > _MONTH:
            stage = 6 if roll < 0.95 else (7 if roll < 0.975 else rng.randrange(0, 5))
        else:
            stage = min(int(age / _FIVE_DAYS * rng.random() * 7), 6)
        t = at
        status = Status.RECEIVED
        reached = min(stage, 5) if stage != 7 else 0
        now = self.now
        for column, event, low, high, after in _STEPS[:reached]:
            t = t + timedelta(seconds=rng.uniform(low, high))
            if t >= now:
                break
            row[column] = t
            row[event] = True
            status = after
        if stage == 7 and at + timedelta(hours=2) < self.now:  # withdrawn by the owner
            status = Status.WITHDRAWN
            t = at + timedelta(hours=rng.uniform(0.5, 2))
            row[C["closed_at"]] = t
            row[C["ev_closed"]] = True
        row[C["status"]] = status.value
        dispatched = row[C["dispatched_at"]]
        if dispatched is not None:
            row[C["assignee_id"]] = assignee
            row[C["responded_at"]] = dispatched
            row[C["response_breached"]] = dispatched > row[C["respond_by"]]
            row[C["response_level"]] = int(row[C["response_breached"]])
        started = row[C["started_at"]]
        if started is not None and rng.random() < 0.6:
            row[C["fu_id"]] = True
            row[C["fu_at"]] = started + timedelta(minutes=rng.uniform(5, 120))
            row[C["fu_note"]] = rng.choice(_NOTES[lang])
            if row[C["fu_at"]] >= self.now:
                row[C["fu_id"]] = None
                row[C["fu_at"]] = row[C["fu_note"]] = None
        resolved = row[C["resolved_at"]]
        if resolved is not None:
            outcome = Outcome.ANSWERED if nature == "consulting" else Outcome.FIXED
            row[C["resolution_outcome"]] = outcome.value
            row[C["resolution"]] = rng.choice(_RESOLUTIONS[lang])
            row[C["effective"]] = is_effective(nature, outcome)
            row[C["resolution_breached"]] = resolved > row[C["resolve_by"]]
            row[C["resolution_level"]] = int(row[C["resolution_breached"]])
            row[C["visit_by"]] = resolved + targets.visit
        visited = row[C["visited_at"]]
        if visited is not None:
            score = _SATISFACTION[bisect(_SATISFACTION_CUM, rng.random() * _SATISFACTION_CUM[-1])]
            row[C["satisfaction"]] = score
            row[C["visit_id"]] = True
            if score < 3:
                row[C["reopen_count"]] = 1  # reopened once, then put right
        if status is Status.CLOSED and row[C["effective"]]:
            cause, action = _CAUSES[lang]
            row[C["summary_cause"]] = cause
            row[C["corrective_action"]] = action
        if status.is_open:
            clocks = sla.running_clocks(
                received_at=at, respond_by=row[C["respond_by"]], responded_at=dispatched,
                clock_started_at=at, resolve_by=row[C["resolve_by"]], resolved_at=resolved,
                visit_by=row[C["visit_by"]], visited=visited is not None, is_open=True,
            )  # fmt: skip
            # Overdue work was escalated in its time: its levels are recorded as reached.
            for clock in clocks:
                level = int(clock.level_at(self.now))
                name = {"response": "response_level", "resolution": "resolution_level",
                        "visit": "visit_level"}[clock.clock.value]  # fmt: skip
                row[bulk.col(name)] = max(row[bulk.col(name)], level)
                if level and clock.clock is sla.Clock.RESOLUTION:
                    row[C["resolution_breached"]] = True
                if level and clock.clock is sla.Clock.RESPONSE:
                    row[C["response_breached"]] = True
            row[C["sla_check_at"]] = sla.next_check(clocks, self.now)
        else:
            row[C["sla_check_at"]] = None
        row[C["updated_at"]] = t
        # The owner was told of the receipt: a sent message while the outbox keeps it,
        # after that its delivery record in the event.
        sent = at + timedelta(seconds=rng.uniform(2, 60))
        channel = "sms"
        if self.now - sent < RETENTION:
            row[C["msg_kind"]] = "received"
            row[C["msg_channel"]] = channel
            row[C["msg_recipient"]] = project.phones[owner_i]
            row[C["msg_language"]] = lang
            row[C["msg_subject"]] = "您的投诉已受理" if lang == "zh" else "Complaint received"
            row[C["msg_body"]] = record["text"][:40]
            row[C["msg_status"]] = "sent"
            row[C["msg_sent_at"]] = sent
        else:
            # bulk.dumps({"sent": ...}) without its encoder: the record has no quote;
            # one record, stored as the string (retention.stored)
            done = retention.record(retention.OWNER, channel, sent, at)
            row[C["received_data"]] = f'{{"sent":"{done}"}}'
        return row


def _write(
    factory: sessionmaker[Session],
    maker: _Maker,
    rows: int,
    batch: int,
    done: Callable[[int, int], None],
    numbers: bulk.Numbers | None = None,
    process: int = 0,
    processes: int = 1,
) -> None:
    """Make and write the run's ``rows`` rows in batches of ``batch``, the batches in
    time order (each its own stretch of time: :meth:`_Maker.place`); this process
    writes every ``processes``-th batch from its ``process``-th, so processes side
    by side write neighbouring stretches. ``numbers``: those of a run that holds the
    bulk id range over empty tables (:func:`bulk.own_bulk_ids`)."""
    parts = -(-rows // batch)
    for part in range(process, parts, processes):
        maker.place(part, parts)
        stage = maker.batch(min(batch, rows - part * batch))
        with unit_of_work(factory) as session:
            if numbers is None:
                bulk.assign_ids(session, stage, bulk.lock(session))
            else:
                bulk.prepare_reserved(session)
                bulk.assign_ids(session, stage, numbers=numbers)
            maker.link_repeats(stage)
            written = bulk.write_batch(session, stage)
        done(written.complaints, written.events)


def _worker(
    url: str,
    company_id: int,
    projects: list[_Project],
    seed: int,
    rows: int,
    now: datetime,
    start: datetime,
    batch: int,
    counter: Any,
    numbers: bulk.Numbers | None,
    process: int,
    processes: int,
) -> None:
    """One process of a parallel run: makes and writes its share of the run's ``rows``
    (every ``processes``-th batch; the processes write side by side, each batch in its
    own slot of the bulk id range)."""
    from complaintdesk.db.engine import make_engine, make_sessionmaker

    engine = make_engine(url)
    rng = random.Random(seed)
    maker = _Maker(rng, company_id, projects, _texts(rng, seed), now, start)

    def done(complaints: int, events: int) -> None:
        with counter.get_lock():
            counter[0] += complaints
            counter[1] += events

    try:
        _write(make_sessionmaker(engine), maker, rows, batch, done, numbers, process, processes)
    finally:
        engine.dispose()


def generate(
    factory: sessionmaker[Session],
    *,
    rows: int,
    now: datetime,
    seed: int = 7,
    years: float = 3.0,
    company_code: str | None = None,
    batch: int = 10_000,
    processes: int = 1,
    progress: Callable[[int, float], None] | None = None,
    defer_indexes: bool = True,
    index_workers: int = 2,
) -> GenerateReport:
    """Make ``rows`` complaints of synthetic history (see the module's docstring).

    ``processes`` > 1 makes rows in that many processes (PostgreSQL only: each opens
    its own connection to the database ``factory`` is bound to).

    ``defer_indexes``: on PostgreSQL, when the database holds no complaint yet, the
    secondary indexes of the history tables are dropped before the load and made
    again after it (:func:`bulk.defer_indexes`), which costs a fraction of keeping
    them up to date row by row; the database answers queries slowly until the end.
    Into a database that has complaints, the indexes are always kept.
    ``index_workers``: how many of those indexes are made at a time."""
    started = time.monotonic()
    rng = random.Random(seed)
    report = GenerateReport()
    projects_n = max(3, -(-rows // ROWS_PER_PROJECT))
    bulk.restore_indexes(factory)  # those an interrupted earlier run left noted
    with unit_of_work(factory) as session:
        company_id, projects = _organisation(
            session, rng, company_code or f"gen-{seed}-{rows}", projects_n
        )
        url = session.get_bind().engine.url.render_as_string(hide_password=False)
    report.projects = len(projects)
    report.owners = sum(len(p.owners) for p in projects)
    start = now - timedelta(days=365 * years)
    with bulk.own_bulk_ids(factory) as empty:
        # Into empty history tables: ids by batch number, indexes after the load.
        report.reserved_ids = empty
        if empty and defer_indexes:
            with unit_of_work(factory) as session:
                report.deferred_indexes = len(bulk.defer_indexes(session.connection()))
        try:
            _load(report, factory, url, rng, company_id, projects, seed, rows, now, start,
                  batch, processes, progress, started)  # fmt: skip
        finally:
            if report.deferred_indexes:  # made, then the planner's statistics
                report.index_seconds = bulk.finish_deferred(factory, workers=index_workers)
    report.seconds = time.monotonic() - started
    return report


def _load(
    report: GenerateReport,
    factory: sessionmaker[Session],
    url: str,
    rng: random.Random,
    company_id: int,
    projects: list[_Project],
    seed: int,
    rows: int,
    now: datetime,
    start: datetime,
    batch: int,
    processes: int,
    progress: Callable[[int, float], None] | None,
    started: float,
) -> None:
    if processes > 1:
        _parallel(report, url, company_id, projects, seed, rows, now, start, batch, processes,
                  progress, started)  # fmt: skip
    else:
        maker = _Maker(rng, company_id, projects, _texts(rng, seed), now, start)

        def done(complaints: int, events: int) -> None:
            report.complaints += complaints
            report.events += events
            if progress is not None:
                progress(report.complaints, time.monotonic() - started)

        _write(factory, maker, rows, batch, done, _numbers(report))


def _numbers(report: GenerateReport, context: Any = multiprocessing) -> bulk.Numbers | None:
    """The run's shared counter of bulk numbers, when it owns the range."""
    return bulk.Numbers(context.Value("q", 0)) if report.reserved_ids else None


def _parallel(
    report: GenerateReport,
    url: str,
    company_id: int,
    projects: list[_Project],
    seed: int,
    rows: int,
    now: datetime,
    start: datetime,
    batch: int,
    processes: int,
    progress: Callable[[int, float], None] | None,
    started: float,
) -> None:
    context = multiprocessing.get_context("spawn")
    counter = context.Array("q", 2)
    numbers = _numbers(report, context)  # one counter for all the processes
    workers = [
        context.Process(
            target=_worker,
            args=(
                url,
                company_id,
                projects,
                seed * 1000 + i,
                rows,
                now,
                start,
                batch,
                counter,
                numbers,
                i,
                processes,
            ),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    while any(w.is_alive() for w in workers):
        for worker in workers:
            worker.join(timeout=0.5)
        if progress is not None:
            progress(counter[0], time.monotonic() - started)
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    report.complaints, report.events = counter[0], counter[1]
    if failed:
        raise RuntimeError(f"{len(failed)} generating process(es) failed: exit codes {failed}")
