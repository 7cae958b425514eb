"""Registering a complaint: whoever receives it owns it until it closes (首问负责制)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    CursorResult,
    Executable,
    LargeBinary,
    String,
    TextClause,
    bindparam,
    case,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, make_transient, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

from complaintdesk.classify.base import Classifier, Prediction
from complaintdesk.db.ids import id_floor, new_id
from complaintdesk.db.models import (
    Base,
    Complaint,
    Event,
    IdempotencyKey,
    Outbox,
    Owner,
    OwnerLink,
    Staff,
    Unit,
    UtcDateTime,
)
from complaintdesk.domain import rules
from complaintdesk.domain.errors import Conflict, InvalidInput
from complaintdesk.domain.lifecycle import FINAL_STATES, Outcome, Status, is_effective
from complaintdesk.domain.messages import MessageKind
from complaintdesk.domain.permissions import Permission
from complaintdesk.domain.search import search_terms
from complaintdesk.domain.taxonomy import (
    LABELS,
    Category,
    Channel,
    Nature,
    labels_text,
    parse_labels,
)
from complaintdesk.services.common import (
    get_owner,
    get_project,
    record_event,
    require,
    set_deadlines,
    turn_lock,
)
from complaintdesk.services.notify import tell_owner


@dataclass(frozen=True)
class NewComplaint:
    """What the receiver records: the owner's own words, where and when, by which channel.

    ``labels`` lets staff set any of the four labels themselves at intake; the
    classifier suggests the rest.
    """

    project_id: int
    text: str
    channel: Channel
    owner_id: int | None = None
    unit_id: int | None = None
    caller_name: str | None = None
    caller_phone: str | None = None
    summary: str | None = None
    location: str | None = None
    occurred_at: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)


def register(
    session: Session,
    actor: Staff,
    new: NewComplaint,
    classifier: Classifier,
    now: datetime,
    *,
    prediction: Prediction | None = None,
    idempotency_key: str | None = None,
) -> Complaint:
    """Register a complaint received by ``actor`` and tell the owner it was received.

    With an ``idempotency_key`` already used by this actor for the same request, the
    complaint made then is returned and nothing new is made.
    """
    complaint, _ = register_once(
        session, actor, new, classifier, now, prediction=prediction, idempotency_key=idempotency_key
    )
    return complaint


def register_once(
    session: Session,
    actor: Staff,
    new: NewComplaint,
    classifier: Classifier,
    now: datetime,
    *,
    prediction: Prediction | None = None,
    idempotency_key: str | None = None,
) -> tuple[Complaint, bool]:
    """:func:`register`, also saying whether the complaint was made now (True) or by
    an earlier request with the same ``idempotency_key`` (False)."""
    require(actor, Permission.REGISTER)
    rules.check_past(now, now, field="received_at")  # history is dated, but not before 2020
    if idempotency_key is not None:
        earlier = replay(session, actor, idempotency_key, new)
        if earlier is not None:
            return earlier, False
    project = get_project(session, actor, new.project_id)
    text = rules.clean_text(new.text, field="text")
    summary = rules.clean_text(new.summary or "", field="summary", required=False) or None
    location = (
        rules.clean_text(new.location or "", field="location", max_chars=300, required=False)
        or None
    )
    caller_name = rules.clean_short(new.caller_name, field="caller_name", max_chars=200)
    caller_phone = rules.clean_short(new.caller_phone, field="caller_phone", max_chars=40)
    # An owner's creates take turns from here (the lock comes with the owner's row).
    owner = (
        get_owner(session, actor, new.owner_id, take_turn=True)
        if new.owner_id is not None
        else None
    )
    unit_id = _unit(session, project.id, new.unit_id)
    if owner is None and not (caller_name or caller_phone):
        raise InvalidInput(
            "give owner_id, or the caller's name or phone / 请填写业主或来电人信息",
            field="owner_id",
        )
    if new.occurred_at is not None:
        rules.check_past(new.occurred_at, now, field="occurred_at")
    staff_labels = parse_labels(new.labels, field_prefix="labels.")
    if prediction is None:
        prediction = classifier.predict([text])[0]
    labels = rules.apply_label_rules(
        {**prediction.labels(), **staff_labels}, urgency_given="urgency" in staff_labels
    )
    risks = [r.value for r in rules.risk_flags(text)]
    # Repeat and upgrade are decided before the INSERT, so the new row is written
    # once, already linked and with its final nature (no insert-then-update).
    repeat = (
        _repeat_of(session, project.id, owner, unit_id, caller_phone, text, location, labels, now)
        if owner is not None or unit_id is not None or caller_phone
        else None
    )
    if repeat is not None and repeat.upgrade_new:
        labels["nature"] = Nature.DISSATISFACTION.value

    complaint = Complaint(
        id=new_id(now),  # the id says when the complaint arrived
        company_id=actor.company_id,
        project_id=project.id,
        unit_id=unit_id,
        owner_id=owner.id if owner is not None else None,
        caller_name=caller_name,
        caller_phone=caller_phone,
        channel=new.channel.value,
        text=text,
        summary=summary,
        search_terms=search_terms(text, summary),
        location=location,
        occurred_at=new.occurred_at,
        received_at=now,
        clock_started_at=now,
        first_receiver_id=actor.id,
        status=Status.RECEIVED.value,
        label_source="staff" if len(staff_labels) == len(LABELS) else "auto",
        label_confidence=dict(prediction.confidence),
        model_version=prediction.model_version,
        needs_review=prediction.needs_review and len(staff_labels) < len(LABELS),
        risk_flags=risks,
        at_risk=bool(risks),
        response_level=0,
        resolution_level=0,
        visit_level=0,
        response_breached=False,
        resolution_breached=False,
        reopen_count=0,
        upgraded=repeat is not None and repeat.upgrade_new,
        repeat_of_id=repeat.earlier.id if repeat is not None else None,
        **labels,
    )
    complaint.co_handling = []  # the lead is the row's department; none other yet
    session.add(complaint)
    set_deadlines(session, complaint, now)
    event = record_event(
        session,
        complaint,
        actor,
        "received",
        now,
        # No field, old, new: the kind says the status (worked out on reading,
        # lifecycle.status_changes). What the classifier suggested (corrections train
        # on it: the row's labels may be corrected later). Channel, confidences, model
        # version and risk flags are on the row and never change: not copied here
        # (bytes on every complaint). A repeat's link is recorded here too
        # (``repeat_of``), not in an event of its own.
        data={
            "labels": labels_text(labels),  # one string (answered as an object)
            "repeat_of": str(repeat.earlier.id) if repeat is not None else None,
        },
    )
    if complaint.risk_flags:
        record_event(
            session,
            complaint,
            actor,
            "risk_flagged",
            now,
            field="risk_flags",
            new=",".join(complaint.risk_flags),
        )
    if repeat is not None:
        _record_repeat(session, complaint, actor, repeat, now)
    tell_owner(session, complaint, MessageKind.RECEIVED, event, now)
    if idempotency_key is not None:
        session.add(
            IdempotencyKey(
                staff_id=actor.id,
                key=idempotency_key,
                request_hash=_request_hash(new),
                complaint_id=complaint.id,
                created_at=now,
            )
        )
    _write(session, complaint)
    return complaint, True


def _request_hash(new: NewComplaint) -> str:
    payload = json.dumps(asdict(new), default=str, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def replay(session: Session, actor: Staff, key: str, new: NewComplaint) -> Complaint | None:
    """The complaint an earlier request with this ``Idempotency-Key`` made, if any;
    refuses a key reused for a different request."""
    request_hash = _request_hash(new)
    if not 1 <= len(key) <= 200:
        raise InvalidInput("Idempotency-Key must be 1 to 200 characters", field="Idempotency-Key")
    row = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.staff_id == actor.id, IdempotencyKey.key == key)
    )
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise Conflict(
            "this Idempotency-Key was used for a different request / 幂等键已被其他请求使用",
            field="Idempotency-Key",
        )
    return session.get(Complaint, row.complaint_id)


def _unit(session: Session, project_id: int, unit_id: int | None) -> int | None:
    if unit_id is None:
        return None
    unit = session.get(Unit, unit_id)
    if unit is None or unit.project_id != project_id:
        raise InvalidInput(f"unit {unit_id} is not in this project", field="unit_id")
    return unit.id


@dataclass(frozen=True)
class _Repeat:
    earlier: rules.PriorComplaint
    classified_as: Nature  # the new complaint's nature before any upgrade
    upgrade_new: bool
    earlier_upgraded: bool  # this request upgraded the earlier complaint


def _repeat_of(
    session: Session,
    project_id: int,
    owner: Owner | None,
    unit_id: int | None,
    caller_phone: str | None,
    text: str,
    location: str | None,
    labels: dict[str, str],
    now: datetime,
) -> _Repeat | None:
    """Whether the new complaint comes back to an earlier one of the same owner, unit
    or phone (:func:`rules.find_repeat` decides; :func:`rules.upgrades_on_repeat` says
    what it upgrades), and upgrade the earlier one now if the rule says so.

    Never refuses the new complaint. On PostgreSQL, creates by one caller take turns
    (a transaction-scoped advisory lock on the owner, taken with the owner's row by
    ``get_owner(take_turn=True)``; else on the phone, else the unit, taken here),
    so two messages sent at the same moment see each other and the second is linked
    to the first. The earlier complaint is upgraded by one conditional UPDATE, not
    through its version: it changes only a communication complaint, and PostgreSQL
    re-reads the row after any concurrent writer commits, so of several repeats
    arriving at once exactly one upgrades it and the others find nothing left to do;
    none of them fails.
    """
    if owner is None and session.get_bind().dialect.name == "postgresql":
        # SQLite needs no lock: its IMMEDIATE transactions already take turns. One
        # lock per transaction, so two creates can never wait on each other's.
        caller = f"phone:{caller_phone}" if caller_phone else f"unit:{unit_id}"
        session.execute(_LOCK, {"caller": caller})
    since = now - rules.REPEAT_WINDOW
    given = {
        column: value
        for column, value in (
            ("owner_id", owner.id if owner is not None else None),
            ("unit_id", unit_id),
            ("caller_phone", caller_phone),
        )
        if value is not None
    }
    rows = session.execute(
        _repeat_lookup(tuple(given)),
        {
            **given,
            "project_id": project_id,
            "id_floor": id_floor(max(since, rules.EARLIEST)),
            "since": since,
        },
    ).all()
    prior = [
        rules.PriorComplaint(
            r.id,
            Category(r.category),
            Nature(r.nature),
            r.received_at,
            Status(r.status) not in FINAL_STATES,
            r.text,
            r.location,
        )
        for r in rows
    ]
    earlier = rules.find_repeat(
        prior, category=Category(labels["category"]), received_at=now, text=text, location=location
    )
    if earlier is None:
        return None
    upgrade_earlier, upgrade_new = rules.upgrades_on_repeat(Nature(labels["nature"]), earlier)
    upgraded = upgrade_earlier and _upgrade_communication(session, earlier.id, now)
    return _Repeat(earlier, Nature(labels["nature"]), upgrade_new, upgraded)


_LOCK = select(turn_lock(bindparam("caller", type_=String)))
_lookups: dict[tuple[str, ...], Executable] = {}


def _repeat_lookup(given: tuple[str, ...]) -> Executable:
    """The repeat lookup by the caller's ``given`` columns, built once for each set
    (made per create, the expression was a good part of the create's CPU)."""
    lookup = _lookups.get(given)
    if lookup is None:
        # The table's columns, not the mapped class's: a Core statement, whose rows
        # skip the ORM's loading steps.
        c = Complaint.__table__.c
        lookup = _lookups[given] = (
            select(c.id, c.category, c.nature, c.received_at, c.status, c.text, c.location)
            .where(
                c.project_id == bindparam("project_id"),
                # Ids are time-ordered: the window is a range of the primary key.
                c.id >= bindparam("id_floor"),
                c.received_at >= bindparam("since"),
                or_(*(c[name] == bindparam(name) for name in given)),
            )
            .order_by(c.id.desc())
            .limit(20)
        )
    return lookup


_EFFECTIVE_OUTCOMES = [o.value for o in Outcome if is_effective(Nature.DISSATISFACTION.value, o)]
_UPGRADE_COMMUNICATION = (
    update(Complaint)
    .where(
        Complaint.id == bindparam("complaint_id"),
        Complaint.nature.in_([n.value for n in Nature if n.is_communication]),
    )
    .values(
        nature=Nature.DISSATISFACTION.value,
        upgraded=True,
        # Judged again as a dissatisfaction complaint if it was already resolved.
        effective=case(
            (Complaint.resolution_outcome.is_(None), Complaint.effective),
            else_=Complaint.resolution_outcome.in_(_EFFECTIVE_OUTCOMES),
        ),
        version=Complaint.version + 1,
        updated_at=bindparam("now", type_=Complaint.updated_at.type),
    )
    .execution_options(synchronize_session=False)
)


def _upgrade_communication(session: Session, complaint_id: int, now: datetime) -> bool:
    """Upgrade the complaint to dissatisfaction if it is still a communication
    complaint; True if this call did it. One statement (built once): no
    read-modify-write."""
    result = session.execute(_UPGRADE_COMMUNICATION, {"complaint_id": complaint_id, "now": now})
    loaded = session.identity_map.get(session.identity_key(Complaint, complaint_id))
    if loaded is not None:
        session.expire(loaded)  # its nature and version changed underneath it
    return cast(CursorResult[Any], result).rowcount == 1


def _record_repeat(
    session: Session, complaint: Complaint, actor: Staff, repeat: _Repeat, now: datetime
) -> None:
    earlier = repeat.earlier
    if repeat.earlier_upgraded:
        _upgraded_event(
            session, earlier.id, actor, now, earlier.nature, f"owner came back: {complaint.id}"
        )
    if repeat.upgrade_new:
        _upgraded_event(
            session, complaint.id, actor, now, repeat.classified_as, f"repeat of {earlier.id}"
        )


def _upgraded_event(
    session: Session,
    complaint: Complaint | int,
    actor: Staff | None,
    now: datetime,
    old: str,
    reason: str,
) -> None:
    record_event(
        session,
        complaint,
        actor,
        "upgraded",
        now,
        field="nature",
        old=old,
        new=Nature.DISSATISFACTION.value,
        data={"reason": reason},
    )


def upgrade_nature(
    session: Session, complaint: Complaint, actor: Staff | None, now: datetime, *, reason: str
) -> None:
    """A mishandled communication complaint becomes a dissatisfaction complaint."""
    old = complaint.nature
    complaint.nature = Nature.DISSATISFACTION.value
    complaint.upgraded = True
    if complaint.resolution_outcome is not None:
        # Mishandled after all: judged again as a dissatisfaction complaint.
        complaint.effective = is_effective(complaint.nature, Outcome(complaint.resolution_outcome))
    _upgraded_event(session, complaint, actor, now, old, reason)


# --- Writing a new complaint -----------------------------------------------------------

_WRITTEN_TOGETHER: tuple[type[Any], ...] = (
    Complaint,
    Event,
    OwnerLink,
    Outbox,
    IdempotencyKey,
)
"""What a create writes, parents before children (SQLite checks foreign keys at once).
A new complaint has no co-handling department (its lead is the row's ``department``,
0013): a ``ComplaintDepartment`` pending beside it is left to the ORM's flush."""

_statements: dict[tuple[str, ...], TextClause] = {}


def _write(session: Session, complaint: Complaint) -> None:
    """Write the new complaint and what is made with it (its events, the owner's
    message and its link, the idempotency key) with Core INSERTs instead of the ORM's
    unit of work: on PostgreSQL in one statement (each other table's INSERT a
    data-modifying WITH clause; foreign keys are checked at the statement's end), on
    SQLite one INSERT per table. The rows are what a flush would write (the objects'
    values, their columns' defaults, NULL for the rest). The complaint is then in the
    session as if just loaded (with no co-handling department), so the response reads
    it with no query. With anything else pending in the session (a caller's own
    objects) the ORM flushes it all, as before."""
    pending: dict[type[Any], list[object]] = {}
    for obj in session.new:
        pending.setdefault(type(obj), []).append(obj)
    written: dict[type[Any], list[tuple[object, dict[str, Any]]]] = {}
    for cls in _WRITTEN_TOGETHER:
        objs = pending.pop(cls, [])
        plan = _plan(cls)
        rows = [_row(obj, plan) for obj in objs]
        if any(row is None for row in rows):
            pending[cls] = objs  # not a row this path can write
            break
        if objs:
            written[cls] = list(zip(objs, cast(list[dict[str, Any]], rows), strict=True))
    if pending or complaint not in session.new:
        session.flush()
        return
    with session.no_autoflush:
        if session.get_bind().dialect.name == "postgresql":
            try:
                params = {
                    f"rows{n}": json.dumps(
                        [_json_row(row, _plan(cls)) for _, row in made], ensure_ascii=False
                    )
                    for n, (cls, made) in enumerate(written.items())
                }
            except TypeError:  # a value this path cannot write as JSON: the ORM writes it
                session.flush()
                return
            names = tuple(cls.__tablename__ for cls in written)
            statement = _statements.get(names)
            if statement is None:
                statement = _statements[names] = _one_statement(names)
            session.execute(statement, params)
        else:
            for cls, made in written.items():
                session.execute(insert(cls.__table__), [row for _, row in made])
    for made in written.values():
        for obj, _ in made:
            # Out of the session as pending objects: each one by itself (what expunge
            # does, without walking every relationship of its mapper for a cascade:
            # every object written here is in ``written``).
            make_transient(obj)
    # The complaint joins the session as persistent, every column set to what was
    # written (its co_handling, set empty by register, stays loaded): reading any of
    # them runs no query.
    plan = _plan(Complaint)
    for obj, row in written[Complaint]:
        # Every column's value into the instance; make_transient_to_detached then
        # takes them all as committed (what set_committed_value does, at once).
        instance_dict(obj).update({key: row[column] for key, column, _, _ in plan.columns})
        make_transient_to_detached(obj)
    session.add(complaint)


def _one_statement(names: tuple[str, ...]) -> TextClause:
    """``INSERT INTO complaints …`` with the other tables' INSERTs as WITH clauses, each
    table's rows one JSON parameter (``rows<n>``, in ``names`` order) read by
    ``jsonb_populate_recordset``: a short statement whatever the number of rows, so
    the driver parses it once and PostgreSQL runs it prepared."""
    inserts = []
    for n, name in enumerate(names):
        columns = ", ".join(f'"{c.name}"' for c in Base.metadata.tables[name].c)
        inserts.append(
            f"INSERT INTO {name} ({columns}) SELECT {columns} "
            f"FROM jsonb_populate_recordset(NULL::{name}, CAST(:rows{n} AS jsonb))"
        )
    first, *rest = inserts
    with_clauses = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(rest))
    return text(f"WITH {with_clauses} {first}" if rest else first)


@dataclass(frozen=True)
class _Plan:
    """How to make a mapped class's row: per column (attribute key, column key, what
    to write when the attribute is unset, the default's value or callable), and which
    columns hold times and bytes (their JSON form differs)."""

    columns: tuple[tuple[str, str, int, Any], ...]
    times: tuple[str, ...]
    binaries: tuple[str, ...]


_NULL, _VERSION, _CALL, _SCALAR, _UNKNOWN = range(5)
_plans: dict[type[Any], _Plan] = {}


def _plan(cls: type[Any]) -> _Plan:
    """The class's plan, worked out once (per create, walking the mapper's columns and
    their defaults was a good part of the write's CPU)."""
    plan = _plans.get(cls)
    if plan is None:
        mapper = inspect(cls)
        columns = []
        arg: Any
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            default = column.default
            if column is mapper.version_id_col:
                how, arg = _VERSION, 1
            elif isinstance(default, CallableColumnDefault):
                how, arg = _CALL, default.arg
            elif isinstance(default, ScalarElementColumnDefault):
                how, arg = _SCALAR, default.arg
            elif (
                default is not None
                or column.server_default is not None
                or isinstance(column.type, JSON)
            ):
                how, arg = _UNKNOWN, None
            else:
                how, arg = _NULL, None
            columns.append((prop.key, column.key, how, arg))
        table = mapper.local_table
        plan = _plans[cls] = _Plan(
            tuple(columns),
            tuple(c.key for c in table.c if isinstance(c.type, UtcDateTime)),
            tuple(c.key for c in table.c if isinstance(c.type, LargeBinary)),
        )
    return plan


def _json_row(row: dict[str, Any], plan: _Plan) -> dict[str, Any]:
    """A row as JSON for ``jsonb_populate_recordset``: times in UTC, ISO 8601; bytes
    in bytea's hex form. (A JSON column's None is SQL NULL here; the ORM wrote JSON
    null: both read back as None.) A value JSON cannot hold raises TypeError when
    the rows are dumped."""
    row = dict(row)
    for key in plan.times:
        value = row[key]
        if isinstance(value, datetime):
            row[key] = _utc(value).isoformat()
    for key in plan.binaries:
        value = row[key]
        if isinstance(value, bytes):
            row[key] = "\\x" + value.hex()
    return row


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return value.astimezone(UTC)


def _row(obj: object, plan: _Plan) -> dict[str, Any] | None:
    """The row a flush would insert for ``obj`` (every column), or None if this path
    cannot tell (a default computed by SQL, a server default, an unset JSON column:
    the ORM leaves it out, so it is SQL NULL, where None would write JSON null)."""
    values = instance_dict(obj)
    row: dict[str, Any] = {}
    for key, column, how, arg in plan.columns:
        if key in values:
            row[column] = values[key]
        elif how == _NULL:
            row[column] = None
        elif how == _CALL:
            row[column] = arg(None)  # ids, clocks: no context read
        elif how == _UNKNOWN:
            return None
        else:
            row[column] = arg  # the version's first value, a scalar default
    return row
