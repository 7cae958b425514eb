"""What intake shows while the receiver types: the classifier's labels with their
confidence, the deadlines they imply, the risk flags, and two warnings — the same
owner already has an open complaint on this matter, and other owners of the same
building reported something similar in the last hours.

Read only, and every rule is the one registration applies (labels through
``rules.apply_label_rules``, deadlines from the project's SLA policy, the same
matter through ``rules.find_repeat``), so what is shown is what saving would do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk.classify.base import Classifier
from complaintdesk.db.ids import id_floor
from complaintdesk.db.models import Complaint, Staff, Unit
from complaintdesk.domain import rules
from complaintdesk.domain.lifecycle import FINAL_STATES, OPEN_STATES, Status
from complaintdesk.domain.taxonomy import Category, Nature, Urgency
from complaintdesk.services.common import get_owner, get_project, policy_for

BUILDING_WINDOW = timedelta(hours=6)
"""How far back "others in the same building reported something similar" looks."""
MAX_LISTED = 5


@dataclass(frozen=True)
class Suggestion:
    labels: dict[str, str]
    confidence: dict[str, float]
    needs_review: bool
    respond_by: datetime
    resolve_by: datetime
    risks: list[str]
    same_matter: list[Complaint]  # the owner's open complaints on this matter
    building: list[Complaint]  # other owners' similar complaints in the same building


def suggest(
    session: Session,
    actor: Staff,
    classifier: Classifier,
    now: datetime,
    *,
    project_id: int,
    text: str,
    owner_id: int | None = None,
    unit_id: int | None = None,
) -> Suggestion:
    project = get_project(session, actor, project_id)
    prediction = classifier.predict([text])[0]
    labels = rules.apply_label_rules(prediction.labels(), urgency_given=False)
    targets = policy_for(project).for_urgency(Urgency(labels["urgency"]))
    category = Category(labels["category"])
    same: list[Complaint] = []
    if owner_id is not None:
        owner = get_owner(session, actor, owner_id)
        same = _open_same_matter(session, project.id, owner.id, category, text, now)
    building = (
        _building_reports(session, project.id, unit_id, owner_id, category, now)
        if unit_id is not None
        else []
    )
    return Suggestion(
        labels=labels,
        confidence={k: float(v) for k, v in prediction.confidence.items()},
        needs_review=prediction.needs_review,
        respond_by=now + targets.response,
        resolve_by=now + targets.resolution,
        risks=[r.value for r in rules.risk_flags(text)],
        same_matter=same,
        building=building,
    )


def _open_same_matter(
    session: Session, project_id: int, owner_id: int, category: Category, text: str, now: datetime
) -> list[Complaint]:
    """The owner's open complaints in the repeat window that the repeat rule would call
    the same matter (the owner's history index, newest first, bounded)."""
    rows = list(
        session.scalars(
            select(Complaint)
            .where(
                Complaint.owner_id == owner_id,
                Complaint.project_id == project_id,
                Complaint.id >= id_floor(now - rules.REPEAT_WINDOW),
                Complaint.status.in_([s.value for s in OPEN_STATES]),
            )
            .order_by(Complaint.id.desc())
            .limit(20)
        )
    )
    found = []
    remaining = rows
    while remaining:
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
            for r in remaining
        ]
        match = rules.find_repeat(prior, category=category, received_at=now, text=text)
        if match is None:
            break
        found.append(next(r for r in remaining if r.id == match.id))
        remaining = [r for r in remaining if r.id != match.id]
        if len(found) >= MAX_LISTED:
            break
    return found


def _building_reports(
    session: Session,
    project_id: int,
    unit_id: int,
    owner_id: int | None,
    category: Category,
    now: datetime,
) -> list[Complaint]:
    """Complaints of the same category from other units of the unit's building in the
    last :data:`BUILDING_WINDOW`: an id range of the project's index (ids are
    time-ordered), so it reads only the last hours of one project."""
    unit = session.get(Unit, unit_id)
    if unit is None or unit.project_id != project_id:
        return []
    query = (
        select(Complaint)
        .join(Unit, Unit.id == Complaint.unit_id)
        .where(
            Complaint.project_id == project_id,
            Complaint.id >= id_floor(now - BUILDING_WINDOW),
            Complaint.category == category.value,
            Unit.building_id == unit.building_id,
            Complaint.unit_id != unit_id,
        )
        .order_by(Complaint.id.desc())
        .limit(MAX_LISTED)
    )
    if owner_id is not None:
        query = query.where((Complaint.owner_id != owner_id) | Complaint.owner_id.is_(None))
    return list(session.scalars(query))
