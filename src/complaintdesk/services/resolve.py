"""Resolving a complaint: what was done, or why it is not ours and what we told the owner."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint, Staff
from complaintdesk.domain import rules
from complaintdesk.domain.errors import InvalidInput
from complaintdesk.domain.lifecycle import Action, Outcome, is_effective
from complaintdesk.domain.messages import MessageKind
from complaintdesk.domain.permissions import Permission
from complaintdesk.services.common import (
    mark_responded,
    refresh_sla_check,
    require,
    targets_for,
    transition,
)
from complaintdesk.services.notify import tell_owner


def resolve(
    session: Session,
    actor: Staff,
    complaint: Complaint,
    now: datetime,
    *,
    outcome: Outcome,
    resolution: str,
    owner_explanation: str | None = None,
    effective: bool | None = None,
) -> Complaint:
    """Record what was done. Where it is not ours, or cannot be fixed now, the owner
    must have been given an explanation. ``effective`` says whether the complaint was
    justified (有效投诉); by default a dissatisfaction complaint is, unless it was not
    our responsibility."""
    require(actor, Permission.WORK, complaint)
    resolution = rules.clean_text(resolution, field="resolution")
    explanation = (
        rules.clean_text(owner_explanation or "", field="owner_explanation", required=False) or None
    )
    if outcome.needs_explanation and explanation is None:
        raise InvalidInput(
            "say what the owner was told: never just 'nothing to do with us' "
            "/ 须说明向业主所作的解释,不能只说“与我们无关”",
            field="owner_explanation",
        )
    # Read before the row changes: a query after a change flushes it, and the rest of
    # the step would then be a second UPDATE of the row (a second row version).
    visit_target = targets_for(session, complaint).visit
    event = transition(session, complaint, actor, Action.RESOLVE, now)
    event.data = {
        "outcome": outcome.value,
        "resolution": resolution,
        "owner_explanation": explanation,
    }
    complaint.resolution_outcome = outcome.value
    complaint.resolution = resolution
    complaint.owner_explanation = explanation
    if effective is None:
        effective = is_effective(complaint.nature, outcome)
    complaint.effective = effective
    complaint.resolved_at = now
    if complaint.resolve_by is not None and now > complaint.resolve_by:
        complaint.resolution_breached = True
    complaint.visit_by = now + visit_target
    complaint.visit_level = 0
    mark_responded(complaint, now)
    refresh_sla_check(complaint, now)
    tell_owner(session, complaint, MessageKind.RESOLVED, event, now)
    session.flush()
    return complaint


__all__ = ["Outcome", "resolve"]
