"""Staff corrections as training data for the next classifier model.

A corrected complaint yields its text with the labels as staff left them: the labels
suggested at intake, overridden by every correction in order. Rule-made changes
(a nature upgraded after a missed deadline) are not read into the text: they say how
the complaint was handled, not what its words mean.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk.db import folding
from complaintdesk.db.models import Complaint, Event, LabelCorrection
from complaintdesk.domain.taxonomy import LABELS, labels_of


def corrected_examples(session: Session, *, limit: int | None = None) -> list[dict[str, Any]]:
    """``[{"text", "nature", "category", "urgency", "department"}, ...]`` for every
    complaint a staff member corrected, oldest correction first."""
    corrected_ids = (
        select(LabelCorrection.complaint_id)
        .group_by(LabelCorrection.complaint_id)
        .order_by(LabelCorrection.complaint_id)
    )
    if limit is not None:
        corrected_ids = corrected_ids.limit(limit)
    ids = list(session.scalars(corrected_ids))
    if not ids:
        return []
    rows = session.execute(select(Complaint.id, Complaint.text).where(Complaint.id.in_(ids)))
    texts = {complaint_id: text for complaint_id, text in rows}
    labels: dict[int, dict[str, str]] = {}
    received = session.execute(
        select(Event.complaint_id, Event.kind, Event.id, Event.at, Event.data).where(
            Event.complaint_id.in_(ids), Event.kind.in_(("received", folding.FOLDED))
        )
    )
    # A settled complaint's received event may be folded with its others (db compact).
    for complaint_id, data in folding.folded_received(
        (c, k, i, a, d) for c, k, i, a, d in received
    ).items():
        # Stored as one string since 7 December 2026, as an object before (labels_of).
        labels[complaint_id] = labels_of((data or {}).get("labels"))
    corrections = session.execute(
        select(LabelCorrection.complaint_id, LabelCorrection.label, LabelCorrection.new)
        .where(LabelCorrection.complaint_id.in_(ids))
        .order_by(LabelCorrection.id)
    )
    for complaint_id, label, value in corrections:
        labels.setdefault(complaint_id, {})[label] = value
    return [
        {"text": texts[cid], **labels[cid]}
        for cid in ids
        if cid in texts and set(labels.get(cid, {})) == set(LABELS)
    ]
