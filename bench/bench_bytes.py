"""Bytes on disk per complaint with its whole lifecycle, and the generate rate.

    .venv/bin/python bench/bench_bytes.py [--rows 200000] [--services 1000]

On PostgreSQL, in throw-away databases:

1. ``generate --rows N``: its rate (complaints/s, with the time 30 million would take)
   beside raw COPY of the same complaint rows into a bare copy of the table, then
   the bytes each complaint costs: heap, TOAST and indexes of complaints, their
   departments, events, follow-ups, visits and what is left in the outbox;
2. the same through the services (the demo loader: intake, dispatch, follow-up,
   resolve, visit, close, one request at a time), after delivery, the outbox purge
   at its retention and VACUUM.

Target: at most 2.5 KB per complaint with its lifecycle.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.db.migrate import upgrade

TICK = os.sysconf("SC_CLK_TCK")


def pg_cpu(url: str, database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving ``database``."""
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
        ]
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


TABLES = (
    "complaints",
    "complaint_departments",
    "events",
    "follow_ups",
    "visits",
    "outbox",
    "sla_checks",
    # A complaint's owner links (one per message to the owner) are part of its cost.
    "owner_links",
    # The owner's history's index table (0015): one row a complaint with an owner.
    "owner_complaints",
)
ORG = ("owners", "owner_units", "units", "buildings", "staff")


def _database(pg: str, name: str) -> Engine:
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{pg}/{name}")
    upgrade(engine)
    return engine


def _drop(pg: str, name: str) -> None:
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


Sizes = dict[str, tuple[int, int, int, int]]
"""Per table: rows, heap, TOAST and index bytes."""


def _measure(engine: Engine) -> Sizes:
    """VACUUM ANALYZE, then each table's size (a partitioned one: its partitions')."""
    sizes: Sizes = {}
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE"))
        for table in (*TABLES, *ORG):
            exists = conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar()
            if exists is None:
                continue
            heap, toast, idx, rows = conn.execute(
                text(
                    "SELECT CAST(COALESCE(sum(pg_relation_size(c.oid)), 0) AS bigint), "
                    "CAST(COALESCE(sum(COALESCE("
                    "pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0)), 0) AS bigint), "
                    "CAST(COALESCE(sum(pg_indexes_size(c.oid)), 0) AS bigint), "
                    "(SELECT count(*) FROM " + table + ") "
                    "FROM pg_class c WHERE c.oid = CAST(:t AS regclass) AND c.relkind = 'r' "
                    "OR c.oid IN (SELECT relid FROM pg_partition_tree(CAST(:t AS regclass)) "
                    "WHERE isleaf)"
                ),
                {"t": table},
            ).one()
            sizes[table] = (int(rows), int(heap), int(toast), int(idx))
    return sizes


def _print(label: str, sizes: Sizes, complaints: int, before: Sizes | None = None) -> float:
    """Bytes per complaint of each table (with ``before``: what grew since, per
    complaint added)."""
    total = 0.0
    print(f"\n{label}: bytes per complaint ({complaints:,} complaints)")
    print(f"  {'table':<24}{'rows/c':>8}{'heap':>8}{'toast':>8}{'indexes':>9}{'total':>9}")
    for table, values in sizes.items():
        old = (before or {}).get(table, (0, 0, 0, 0))
        rows, heap, toast, idx = (v - o for v, o in zip(values, old, strict=True))
        per = (heap + toast + idx) / complaints
        if table in TABLES:
            total += per
        print(
            f"  {table:<24}{rows / complaints:8.2f}{heap / complaints:8.0f}"
            f"{toast / complaints:8.0f}{idx / complaints:9.0f}{per:9.0f}"
            + ("" if table in TABLES else "  (organisation, not counted)")
        )
    print(f"  {'complaint with its lifecycle':<49}{total:9.0f}  (target <= 2,560)")
    return total


def _details(engine: Engine, complaints: int) -> None:
    """Where the complaints' and events' index bytes are (summed over each index's
    partitions; what empty partitions hold is a fixed cost, not a complaint's), and
    the share of complaint updates that were HOT."""
    with engine.connect() as conn:
        hot, updates = conn.execute(
            text(
                "SELECT COALESCE(sum(n_tup_hot_upd), 0), COALESCE(sum(n_tup_upd), 0) "
                "FROM pg_stat_user_tables WHERE relid IN (SELECT relid FROM "
                "pg_partition_tree('complaints') WHERE isleaf)"
            )
        ).one()
        rows = conn.execute(
            text(
                "SELECT p.relname, sum(pg_relation_size(t.relid)), "
                "sum(CASE WHEN c.reltuples <= 0 THEN pg_relation_size(t.relid) ELSE 0 END) "
                "FROM pg_class p CROSS JOIN LATERAL pg_partition_tree(p.oid) t "
                "JOIN pg_index x ON x.indexrelid = t.relid "
                "JOIN pg_class c ON c.oid = x.indrelid "
                "WHERE p.relkind = 'I' AND t.isleaf AND p.oid IN (SELECT indexrelid FROM "
                "pg_index WHERE indrelid IN ('complaints'::regclass, 'events'::regclass)) "
                "GROUP BY 1 ORDER BY 2 DESC"
            )
        ).all()
    print(f"  complaint updates HOT: {hot:,} of {updates:,} ({100 * hot / max(updates, 1):.0f} %)")
    _tuples(engine, complaints)
    print(f"  {'index (all its partitions)':<40}{'bytes/c':>9}{'of which empty partitions':>27}")
    for name, size, empty in rows:
        print(f"  {name:<40}{size / complaints:9.0f}{empty / complaints:27.0f}")


def _tuples(engine: Engine, complaints: int) -> None:
    """The live rows' own bytes (pgstattuple's tuple_len, summed over each table's
    partitions) and their pages' free space, a complaint: what the rows hold,
    whatever room the pages around them have (the figures the estimate at a million
    in docs/capacity.md is made of). Skipped where the extension cannot be made."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgstattuple"))
        except DBAPIError as exc:  # a figure left out, not a failed run
            print(f"  (no pgstattuple: {type(exc).__name__})")
            return
        print(f"  {'live rows (pgstattuple)':<24}{'rows/c':>8}{'tuples':>8}{'free':>8}{'dead':>8}")
        for table in ("complaints", "events", "follow_ups", "visits", "owner_links"):
            rows, tuples, free, dead = conn.execute(
                text(
                    "SELECT COALESCE(sum(s.tuple_count), 0), COALESCE(sum(s.tuple_len), 0), "
                    "COALESCE(sum(s.free_space), 0), COALESCE(sum(s.dead_tuple_len), 0) "
                    "FROM pg_class c CROSS JOIN LATERAL pgstattuple(c.oid) s "
                    "WHERE c.relkind = 'r' AND (c.oid = to_regclass(:t) OR c.oid IN "
                    "(SELECT relid FROM pg_partition_tree(to_regclass(:t)) WHERE isleaf))"
                ),
                {"t": table},
            ).one()
            print(
                f"  {table:<24}{rows / complaints:8.2f}{tuples / complaints:8.0f}"
                f"{free / complaints:8.0f}{dead / complaints:8.0f}"
            )


def _sizes(engine: Engine, complaints: int, label: str) -> float:
    return _print(label, _measure(engine), complaints)


# --- The live path: lifecycles interleaved in time, one request a transaction --------


@dataclass(order=True)
class _Step:
    at: datetime
    seq: int
    complaint: int = field(compare=False)  # index into the plan
    action: str = field(compare=False)
    score: int = field(compare=False, default=5)


def _adder(steps: list[_Step]) -> Callable[..., None]:
    """``add(at, complaint, action, score=5)``: a step appended to ``steps``, numbered in
    the order made (so that steps at the same moment keep that order)."""

    def add(at: datetime, i: int, action: str, score: int = 5) -> None:
        steps.append(_Step(at, len(steps) + 1, i, action, score))

    return add


def _plan_steps(rng: random.Random, n: int, start: datetime, days: float) -> list[_Step]:
    """Each complaint's steps at realistic distances (minutes to days), the arrivals
    spread evenly over ``days``; the way the demo walks one (dispatch, start, a
    follow-up for 40 %, resolve, return visit, close; 3 % withdrawn; 13 % of visits
    unsatisfied: resolved again and visited again)."""
    steps: list[_Step] = []
    add = _adder(steps)

    for i in range(n):
        t = start + timedelta(days=days * i / n)
        add(t, i, "intake")
        if rng.random() < 0.03:
            add(t + timedelta(hours=2), i, "withdraw")
            continue
        t += timedelta(minutes=rng.uniform(3, 240))
        add(t, i, "dispatch")
        t += timedelta(minutes=rng.uniform(10, 600))
        add(t, i, "start")
        if rng.random() < 0.4:
            t += timedelta(hours=rng.uniform(1, 12))
            add(t, i, "follow_up")
        t += timedelta(hours=rng.expovariate(1 / 30))
        add(t, i, "resolve")
        t += timedelta(hours=rng.uniform(2, 60))
        score = rng.choices([5, 4, 3, 2, 1], [45, 30, 12, 9, 4])[0]
        add(t, i, "visit", score)
        if score < 3:
            t += timedelta(hours=rng.uniform(4, 48))
            add(t, i, "resolve")
            t += timedelta(hours=rng.uniform(2, 24))
            add(t, i, "visit", 4)
        t += timedelta(hours=rng.uniform(1, 24))
        add(t, i, "close")
    steps.sort()
    return steps


REPEAT_SHARE = 0.06
"""``--workload sla``: the share of complaints that are an owner back on the same
matter (generate's ``REPEAT_SHARE``)."""
ON_TIME = 0.9
"""``--workload sla``: the share of each clock (response, resolution, return visit) met."""


def _within(rng: random.Random, target: timedelta) -> timedelta:
    """When a step comes, from its clock's start: within the target for ``ON_TIME`` of
    them (a tenth to nine tenths of it), up to twice it for the rest."""
    if rng.random() < ON_TIME:
        return target * rng.uniform(0.1, 0.9)
    return target * rng.uniform(1.0, 2.0)


def _plan_steps_sla(
    rng: random.Random, n: int, start: datetime, days: float, urgencies: list[str]
) -> list[_Step]:
    """Each complaint's steps as a desk that meets its deadlines ``ON_TIME`` of the
    time would take them: dispatch (the response clock) and resolution from the
    complaint's own urgency's default targets (``sla.DEFAULT_TARGETS``), the return
    visit within its target after the resolution; the rest as ``_plan_steps`` (3 %
    withdrawn, a follow-up for 40 %, 13 % of visits unsatisfied)."""
    from complaintdesk.domain.sla import DEFAULT_TARGETS
    from complaintdesk.domain.taxonomy import Urgency

    steps: list[_Step] = []
    add = _adder(steps)

    for i in range(n):
        received = start + timedelta(days=days * i / n)
        targets = DEFAULT_TARGETS[Urgency(urgencies[i])]
        add(received, i, "intake")
        if rng.random() < 0.03:
            add(received + timedelta(hours=2), i, "withdraw")
            continue
        dispatched = received + _within(rng, targets.response)
        add(dispatched, i, "dispatch")
        resolved = max(received + _within(rng, targets.resolution), dispatched)
        resolved += timedelta(minutes=rng.uniform(2, 20))
        started = dispatched + (resolved - dispatched) * rng.uniform(0.05, 0.5)
        add(started, i, "start")
        if rng.random() < 0.4:
            add(started + (resolved - started) * rng.uniform(0.2, 0.8), i, "follow_up")
        add(resolved, i, "resolve")
        t = resolved + _within(rng, targets.visit)
        score = rng.choices([5, 4, 3, 2, 1], [45, 30, 12, 9, 4])[0]
        add(t, i, "visit", score)
        if score < 3:
            t += timedelta(hours=rng.uniform(4, 48))
            add(t, i, "resolve")
            t += _within(rng, targets.visit)
            add(t, i, "visit", 4)
        t += timedelta(hours=rng.uniform(1, 24))
        add(t, i, "close")
    steps.sort()
    return steps


def _owners_sla(
    session: Session,
    company: Any,
    projects: list[Any],
    rng: random.Random,
    n: int,
    days: float,
    records: list[dict[str, Any]],
) -> dict[int, tuple[Any, Any, Any]]:
    """``--workload sla``: complaint i's (project, owner, unit). Each complaint is a
    different owner in a unit of their own, but ``REPEAT_SHARE`` of them, which are an
    earlier complaint's owner (of the last 20 days) back with its words
    (``records[i]`` is set to the earlier one's); the owners and units are made here,
    as many as the complaints need."""
    from complaintdesk.services import org

    window = n / days * 20  # the complaints of 20 days
    earlier: dict[int, int] = {}  # a repeat: the complaint it comes back to
    where: dict[int, Any] = {}  # a first complaint: its project
    for i in range(n):
        if i and rng.random() < REPEAT_SHARE:
            earlier[i] = rng.randrange(max(0, int(i - window)), i)
        else:
            where[i] = rng.choice(projects)
    made: dict[int, list[tuple[Any, Any]]] = {}
    for project in projects:
        wanted = sum(1 for p in where.values() if p is project)
        pairs: list[tuple[Any, Any]] = []
        for b in range(-(-wanted // 100)):
            building = org.add_building(session, project, f"S{b + 1}栋")
            for u in range(min(100, wanted - 100 * b)):
                unit = org.add_unit(session, building, f"S{b + 1}-{u + 1:03d}")
                owner = org.create_owner(
                    session,
                    company,
                    name=f"业主{project.id % 1000}-{b}-{u}",
                    phone=f"137{len(pairs) + 10**5 * (project.id % 1000):08d}",
                    language="zh",
                    contact_channel="sms",
                    unit_ids=[unit.id],
                )
                pairs.append((owner, unit))
        made[project.id] = pairs
    chosen: dict[int, tuple[Any, Any, Any]] = {}
    for i in range(n):
        if i in earlier:
            chosen[i] = chosen[earlier[i]]
            records[i] = records[earlier[i]]
        else:
            project = where[i]
            owner, unit = made[project.id].pop()
            chosen[i] = (project, owner, unit)
    return chosen


def live(
    factory: sessionmaker[Session],
    engine: Engine,
    n: int,
    days: float,
    now: datetime,
    workload: str = "busy",
) -> datetime:
    """``n`` complaints through the services over ``days`` simulated days, each step
    one transaction in time order, with what ``serve`` runs beside them: delivery and
    the sweeper every simulated hour, the outbox purge every day, and a VACUUM of the
    history tables every 2,000 transactions (as autovacuum would). Returns the end.

    ``workload``: ``busy`` (the bench's first workload: 200 owners in 48 units a project
    whatever ``n``, so owners come back within days; steps at the same distances
    whatever the urgency, so critical complaints miss their 15 minutes); ``sla``
    (``_owners_sla``, ``_plan_steps_sla``: an owner a complaint but ``REPEAT_SHARE``,
    the deadlines met ``ON_TIME`` of the time)."""
    from complaintdesk.classify.base import default_classifier
    from complaintdesk.classify.generate import iter_generate
    from complaintdesk.db.engine import unit_of_work
    from complaintdesk.db.models import Company
    from complaintdesk.demo import _organisation
    from complaintdesk.domain.errors import DomainError
    from complaintdesk.services import org
    from complaintdesk.services.delivery import LogChannel, deliver
    from complaintdesk.services.escalation import sweep
    from complaintdesk.services.retention import purge_outbox

    rng = random.Random(11)
    start = now - timedelta(days=days)
    _months_made_ahead(engine, start, now)
    with unit_of_work(factory) as session:
        company: Company = org.create_company(session, code="live", name="Live")
        projects, staff, owners, _ = _organisation(session, company, rng, start, 200)
    records = list(iter_generate(n, 11))
    chosen: dict[int, tuple[Any, Any, Any]] = {}
    if workload == "sla":
        with unit_of_work(factory) as session:
            company = session.merge(company)
            chosen = _owners_sla(session, company, projects, rng, n, days, records)
    predictions = default_classifier().predict([r["text"] for r in records])
    ids: dict[int, int] = {}
    who: dict[int, tuple[Any, Any, Any]] = {}
    log = LogChannel()
    channels = {"email": log, "sms": log, "wechat": log, "log": log}
    next_hour = start + timedelta(hours=1)
    next_day = start + timedelta(days=1)
    if workload == "sla":
        plan = _plan_steps_sla(rng, n, start, days, [p.urgency.value for p in predictions])
    else:
        plan = _plan_steps(rng, n, start, days)
    for done, step in enumerate(plan, 1):
        while step.at >= next_hour:
            while deliver(factory, channels, next_hour, batch=500).claimed == 500:
                pass
            sweep(factory, next_hour)
            if next_hour >= next_day:
                purge_outbox(factory, next_day)
                next_day += timedelta(days=1)
            next_hour += timedelta(hours=1)
        try:
            with unit_of_work(factory) as session:
                _do(
                    session,
                    step,
                    ids,
                    who,
                    projects,
                    staff,
                    owners,
                    records,
                    predictions,
                    rng,
                    chosen.get(step.complaint),
                )
        except DomainError:
            pass
        if done % 2000 == 0:
            _vacuum(engine)
            print(f"  {done:,}/{len(plan):,} requests, simulated {step.at:%Y-%m-%d %H:%M}")
    end = plan[-1].at + timedelta(hours=1)
    while deliver(factory, channels, end, batch=500).claimed == 500:
        pass
    sweep(factory, end)
    purge_outbox(factory, end)
    return end


def _months_made_ahead(engine: Engine, start: datetime, now: datetime) -> None:
    """The run's months as ``serve``'s maintenance would have made them ahead of time
    (this database is new: a month already begun has no partition yet, and its rows
    would wait in the default partition): made now, with the storage options of this
    month's (its fill factor)."""
    from complaintdesk.db import partitions

    with engine.begin() as conn:
        partitions.ensure(conn, start, now)
        options = conn.scalar(
            text("SELECT reloptions FROM pg_class WHERE relname = :n"),
            {"n": partitions.partition_name("complaints", partitions.month_start(now))},
        )
        month = partitions.month_start(start)
        while options and month < partitions.month_start(now):
            name = partitions.partition_name("complaints", month)
            conn.execute(text(f"ALTER TABLE {name} SET ({', '.join(options)})"))
            month = partitions.add_months(month, 1)


def _do(
    session: Session,
    step: _Step,
    ids: dict[int, int],
    who: dict[int, tuple[Any, Any, Any]],
    projects: list[Any],
    staff: dict[int, list[Any]],
    owners: dict[int, list[Any]],
    records: list[dict[str, Any]],
    predictions: list[Any],
    rng: random.Random,
    chosen: tuple[Any, Any, Any] | None = None,
) -> None:
    """One request: the step's service call on the complaint, read by its id (at
    intake: ``chosen``'s project, owner and unit, else random ones)."""
    from complaintdesk.classify.base import default_classifier
    from complaintdesk.db.models import Complaint
    from complaintdesk.domain.taxonomy import Channel, Department, Role, StaffDepartment
    from complaintdesk.services import closing, dispatch, follow_up, intake, resolve, visits

    i = step.complaint
    if step.action == "intake":
        if chosen is None:
            project = rng.choice(projects)
            owner, unit = rng.choice(owners[project.id])
        else:
            project, owner, unit = chosen
        people = staff[project.id]
        receiver = rng.choice(people)
        made = intake.register(
            session,
            receiver,
            intake.NewComplaint(
                project_id=project.id,
                text=records[i]["text"],
                channel=rng.choice(list(Channel)),
                owner_id=owner.id,
                unit_id=unit.id,
                location=unit.name,
            ),
            default_classifier(),
            step.at,
            prediction=predictions[i],
        )
        by_role = {(s.department, s.role): s for s in people}
        agent = by_role[(StaffDepartment.CUSTOMER_SERVICE.value, Role.AGENT.value)]
        department = Department(made.department)
        worker = (
            by_role.get((department.value, Role.STAFF.value))
            or by_role[(department.value, Role.SUPERVISOR.value)]
        )
        ids[i] = made.id
        who[i] = (receiver, agent, worker)
        return
    if i not in ids:
        return
    complaint = session.get(Complaint, ids[i])
    assert complaint is not None
    receiver, agent, worker = who[i]
    t = step.at
    if step.action == "withdraw":
        closing.withdraw(session, receiver, complaint, t, reason="业主表示问题已自行解决")
    elif step.action == "dispatch":
        dispatch.dispatch(
            session,
            agent,
            complaint,
            t,
            department=Department(complaint.department),
            assignee_id=worker.id,
        )
    elif step.action == "start":
        dispatch.start(session, worker, complaint, t)
    elif step.action == "follow_up":
        follow_up.add_follow_up(
            session,
            worker,
            complaint,
            t,
            note=rng.choice(["已联系业主确认情况", "配件已订,等待到货", "Spoke to the owner"]),
            next_follow_up_at=t + timedelta(days=1),
        )
    elif step.action == "resolve":
        outcome = (
            resolve.Outcome.ANSWERED if complaint.nature == "consulting" else resolve.Outcome.FIXED
        )
        resolve.resolve(session, worker, complaint, t, outcome=outcome, resolution="已维修完毕")
    elif step.action == "visit":
        visits.record_visit(
            session,
            agent,
            complaint,
            t,
            satisfaction=step.score,
            comment=None if step.score >= 3 else "还是没解决 / still not right",
        )
    elif step.action == "close":
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


_VACUUMED = (*TABLES, "sla_checks")


def _vacuum(engine: Engine) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in _VACUUMED:
            if conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None:
                conn.execute(text(f"VACUUM {table}"))


def _settings(pg: str) -> None:
    names = ("shared_buffers", "maintenance_work_mem", "autovacuum", "server_version")
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        shown = {n: conn.execute(f"SHOW {n}").fetchone() for n in names}
    load = os.getloadavg()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load[0]:.1f} on "
        f"{os.cpu_count()} cores; PostgreSQL "
        + ", ".join(f"{n} {v[0] if v else '?'}" for n, v in shown.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000, help="generated history (0: none)")
    parser.add_argument("--services", type=int, default=1000, help="demo loader (0: none)")
    parser.add_argument(
        "--live", type=int, default=0, help="complaints through the services, interleaved"
    )
    parser.add_argument("--days", type=float, default=30.0, help="the live run's span")
    parser.add_argument(
        "--workload",
        choices=("busy", "sla"),
        default="busy",
        help="the live run's owners and step times (see live()): busy, as before; sla, "
        "an owner a complaint but 6 %% repeats, deadlines met 90 %% of the time",
    )
    parser.add_argument("--keep", action="store_true", help="keep the live run's database")
    parser.add_argument(
        "--base", type=int, default=0, help="generated history under the live run (0: none)"
    )
    parser.add_argument("--base-years", type=float, default=0.25)
    parser.add_argument("--pg", default="postgresql://root@127.0.0.1:5432")
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        default=None,
        help="the run's clock, ISO 8601 with a zone, e.g. 2026-12-07T00:00:00+00:00 "
        "(default: the real time; the live run's HOT share moves with its minute, "
        "so give two runs to compare the same --now)",
    )
    parser.add_argument("--prefix", default="cd_bench", help="the databases' name prefix")
    parser.add_argument(
        "--fold",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="compact the months with db compact --fold (each closed complaint's events "
        "folded into one row, the events partition rewritten); default: without",
    )
    parser.add_argument(
        "--compact-kept",
        default=None,
        metavar="DATABASE",
        help="only compact a copy of a database a live run kept (--keep), and measure it",
    )
    args = parser.parse_args()
    _settings(args.pg)
    if args.compact_kept:
        _compact_kept(args)
        return
    now = datetime.now(UTC) if args.now is None else args.now.astimezone(UTC)
    if args.rows > 0:
        _bench_generate(args, now)
    if args.services > 0:
        _bench_demo(args, now)
    if args.live > 0:
        _bench_live(args, now)


def _bench_live(args: argparse.Namespace, now: datetime) -> None:
    from complaintdesk.db import partitions
    from complaintdesk.services.generate import generate
    from complaintdesk.services.retention import purge_outbox

    name = f"{args.prefix}_live_{os.getpid()}"
    engine = _database(args.pg, name)
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _no_fsync_wait(dbapi_connection: Any, _record: object) -> None:
        # Commits need not wait for the disk here (bytes do not depend on it).
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET synchronous_commit = off")
        dbapi_connection.autocommit = False

    try:
        factory = make_sessionmaker(engine)
        before: Sizes | None = None
        if args.base > 0:
            # A database that already holds history (its indexes' upper levels, every
            # search term's key, its months): what the live complaints add to it is
            # what each costs in a growing database.
            generate(factory, rows=args.base, now=now, seed=7, years=args.base_years)
            before = _measure(engine)
            _print("history before the live run", before, args.base)
        started = time.perf_counter()
        end = live(factory, engine, args.live, args.days, now, args.workload)
        seconds = time.perf_counter() - started
        load = os.getloadavg()
        print(
            f"\nlive: {args.live:,} complaints over {args.days:g} simulated days in "
            f"{seconds:,.0f} s; load average {load[0]:.1f}"
        )
        with engine.connect() as conn:
            waiting = conn.execute(text("SELECT count(*) FROM outbox")).scalar()
        label = f"live, outbox at its 30-day window ({waiting:,} messages)"
        _print(label, _measure(engine), args.live, before)
        # The next 31 days as serve's periodic purge goes through them (a run a day
        # here, as in the run above), not one purge of everything at once: what a
        # purge leaves for the next one to reuse is part of what it costs. No requests
        # come, so the bench's own VACUUM (every 2,000 requests) does not run.
        for day in range(1, 32):
            purge_outbox(factory, end + timedelta(days=day))
        label = "live, every message past its retention (purged)"
        _print(
            label + (", growth per live complaint" if before else ""),
            _measure(engine),
            args.live,
            before,
        )
        _details(engine, args.live)
        # Once its month has settled, `complaintdesk db compact` packs the indexes that
        # the rows' rewrites left half empty (db/partitions.py: compact_month).
        first = partitions.month_start(now - timedelta(days=args.days))
        _compacted(engine, first, end, args.live, "live, purged", args.fold, before)
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept database {name}")
        else:
            _drop(args.pg, name)


def _compacted(
    engine: Engine,
    first: datetime,
    last: datetime,
    complaints: int,
    label: str,
    fold: bool,
    before: Sizes | None = None,
) -> None:
    """`complaintdesk db compact` of every month from ``first``'s to ``last``'s, with
    ``--fold`` when ``fold`` (each closed complaint's events folded into one row, the
    events partition rewritten: db/folding.py, db/partitions.py), then the bytes a
    complaint and where they are. Prints each month's fold and rewrite: complaints,
    rows, seconds."""
    from complaintdesk.db import partitions

    month = partitions.month_start(first)
    while month <= last:
        started = time.perf_counter()
        report = partitions.compact_month(engine, month, fold=fold)
        seconds = time.perf_counter() - started
        if report.folded or report.rewritten or report.busy:
            print(
                f"  {report.month}: {report.folded:,} complaints' {report.folded_rows:,} "
                f"event rows folded, one row each, in {report.fold_seconds:.2f} s "
                f"({report.fold_rate:,.0f} complaints/s); rewritten "
                f"{', '.join(report.rewritten) or 'none'} in {report.rewrite_seconds:.2f} s"
                f"{'; busy ' + ', '.join(report.busy) if report.busy else ''}; "
                f"{seconds:.1f} s in all"
            )
        month = partitions.add_months(month, 1)
    command = "db compact --fold" if fold else "db compact"
    _print(f"{label}, the months compacted ({command})", _measure(engine), complaints, before)
    _details(engine, complaints)


def _compact_kept(args: argparse.Namespace) -> None:
    """The compaction step alone, on a copy of a database an earlier run kept
    (``--keep``): the same rows, compacted by this tree's `db compact` (the fold's
    before and after from one live run, which takes most of an hour here)."""
    from complaintdesk.db.ids import id_time

    name = f"{args.prefix}_compacted_{os.getpid()}"
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{args.compact_kept}"')
    engine = make_engine(f"{args.pg}/{name}")
    upgrade(engine)  # this tree's migrations, if it has any the kept database lacks
    try:
        with engine.connect() as conn:
            low, high, complaints = conn.execute(
                text("SELECT min(id), max(id), count(*) FROM complaints")
            ).one()
        _print(f"{args.compact_kept} as kept", _measure(engine), complaints)
        label = f"{args.compact_kept} copied"
        _compacted(engine, id_time(low), id_time(high), complaints, label, args.fold)
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept database {name}")
        else:
            _drop(args.pg, name)


def _bench_generate(args: argparse.Namespace, now: datetime) -> None:
    from complaintdesk.services.generate import generate

    name = f"{args.prefix}_gen_{os.getpid()}"
    engine = _database(args.pg, name)
    try:
        factory = make_sessionmaker(engine)
        with engine.connect() as warm:  # the pool's connection, so its CPU is counted
            warm.exec_driver_sql("SELECT 1")
        cpu_before = time.process_time()
        report = generate(factory, rows=args.rows, now=now, seed=7)
        py_us = (time.process_time() - cpu_before) / report.complaints * 1e6
        pg_us = pg_cpu(f"{args.pg}/postgres", name) / report.complaints * 1e6
        # The machine's limit for the same rows: COPY of the complaint rows as they
        # are now into a bare copy of the table (no indexes, no constraints).
        with (
            psycopg.connect(f"{args.pg}/{name}") as reader,
            psycopg.connect(f"{args.pg}/{name}") as conn,
        ):
            conn.execute("CREATE TABLE raw_copy (LIKE complaints)")
            conn.commit()
            started = time.perf_counter()
            with (
                reader.cursor() as out,
                out.copy("COPY (SELECT * FROM complaints) TO STDOUT") as source,
                conn.cursor() as into,
                into.copy("COPY raw_copy FROM STDIN") as sink,
            ):
                for chunk in source:
                    sink.write(chunk)
            conn.commit()
            raw_rate = report.complaints / (time.perf_counter() - started)
            conn.execute("DROP TABLE raw_copy")
            conn.commit()
        load = os.getloadavg()
        print(
            f"generate: {report.complaints:,} complaints, {report.events:,} events in "
            f"{report.seconds:,.1f} s = {report.rate:,.0f} complaints/s "
            f"({report.rate / raw_rate:.2f}x raw COPY of the complaint rows alone, "
            f"{raw_rate:,.0f}/s); load average {load[0]:.1f} on {os.cpu_count()} cores"
        )
        per_cpu_s = 1e6 / (py_us + pg_us)
        cores = os.cpu_count() or 1
        print(
            f"  CPU per complaint: Python {py_us:,.0f} us + PostgreSQL {pg_us:,.0f} us "
            f"= {per_cpu_s:,.0f} complaints per CPU-second"
        )
        print(
            f"  30,000,000 at the measured rate: {30e6 / report.rate / 3600:,.1f} h; "
            f"with all {cores} cores to itself (--processes {cores}): "
            f"{30e6 / (per_cpu_s * cores) / 3600:,.1f} h (target: under 1 h)"
        )
        _sizes(engine, report.complaints, "generated history")
    finally:
        engine.dispose()
        _drop(args.pg, name)


def _bench_demo(args: argparse.Namespace, now: datetime) -> None:
    from complaintdesk.demo import load_demo
    from complaintdesk.services.delivery import LogChannel, deliver
    from complaintdesk.services.retention import purge_outbox

    name = f"{args.prefix}_svc_{os.getpid()}"
    engine = _database(args.pg, name)
    try:
        factory = make_sessionmaker(engine)
        started = time.perf_counter()
        load_demo(factory, complaints=args.services, seed=7, now=now, owners_per_project=200)
        seconds = time.perf_counter() - started
        log = LogChannel()
        channels = {"email": log, "sms": log, "wechat": log, "log": log}
        while deliver(factory, channels, now, batch=500).claimed:
            pass
        purge_outbox(factory, now + timedelta(days=31))
        print(f"\nservices (demo loader): {args.services / seconds:,.0f} complaints/s")
        _sizes(engine, args.services, "through the services, outbox purged after retention")
    finally:
        engine.dispose()
        _drop(args.pg, name)


if __name__ == "__main__":
    main()
