"""The owner portal, made for a phone: sign in with a one-time code, my complaints
with their progress in plain words, a new complaint with a photo, rating the return
visit; and the page a message's link opens without an account.

Everything here goes through ``services/owner_portal.py`` (who may see what, the
codes, the photo checks) and ``services/visits.py`` (the rating's rule); a complaint
that is not the viewer's is a 404, as in the API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from complaintdesk.db.models import Complaint, Owner
from complaintdesk.domain.audit import AuditKind
from complaintdesk.domain.errors import DomainError, NotFound, RateLimited
from complaintdesk.i18n import N_, pick, translator
from complaintdesk.services import owner_links, owner_portal
from complaintdesk.services import signin as signin_audit
from complaintdesk.web.deps import ClassifierDep, IdPath, NowDep, SessionDep
from complaintdesk.web.pages import render
from complaintdesk.web.pages.deps import SignInRequired, pages_router
from complaintdesk.web.pages.security import fingerprint, security_of
from complaintdesk.web.presenter import owner_steps, present, present_one

router = pages_router()

OWNER = "owner"
MAX_UPLOAD = owner_portal.PHOTO_MAX_BYTES + 1


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _phone_check(phone: str | None) -> str:
    """What an owner session is bound to: a new phone number on the record ends it."""
    return fingerprint(f"phone:{phone or ''}")


@dataclass(frozen=True)
class SignedInOwner:
    id: int
    name: str


def signed_in_owner(request: Request, session: SessionDep) -> owner_portal.Viewer | None:
    signed = security_of(request).read_session(request)
    if signed is None or signed.kind != OWNER:
        return None
    owner = session.get(Owner, signed.subject)
    if owner is None or owner.phone is None or _phone_check(owner.phone) != signed.check:
        return None
    owners = owner_portal.owners_with_phone(session, owner.phone)
    # A plain copy for the page's header: it outlives the request's session.
    request.state.owner = SignedInOwner(owner.id, owner.name)
    return owner_portal.Viewer(frozenset(o.id for o in owners))


def get_owner_viewer(
    viewer: Annotated[owner_portal.Viewer | None, Depends(signed_in_owner)],
) -> owner_portal.Viewer:
    if viewer is None:
        raise SignInRequired(OWNER)
    return viewer


OwnerViewer = Annotated[owner_portal.Viewer, Depends(get_owner_viewer)]


def _page(request: Request, template: str, **values: Any) -> Response:
    return render.page(request, template, **values)


# --- Sign-in --------------------------------------------------------------------------


def _signin_page(request: Request, step: str, phone: str, next: str, exc: DomainError) -> Response:
    """The sign-in page again at ``step`` with the service's refusal: 429 with
    Retry-After when rate limited, else 422."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return _page(
        request,
        "owner_signin.html",
        title=N_("Owner sign-in"),
        step=step,
        phone=phone,
        next=next,
        error=pick(str(exc), render.lang_of(request)),
        status_code=429 if isinstance(exc, RateLimited) else 422,
        headers=headers,
    )


@router.get("/portal/signin")
def signin_form(request: Request, next: str = "") -> Response:
    return _page(request, "owner_signin.html", title=N_("Owner sign-in"), step="phone", next=next)


@router.post("/portal/signin/code")
def send_code(
    request: Request,
    session: SessionDep,
    now: NowDep,
    phone: Annotated[str, Form(max_length=40)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        owner_portal.request_code(session, phone, client=_client(request), now=now)
    except RateLimited as exc:
        return _signin_page(request, "phone", phone, next, exc)
    except DomainError as exc:
        return _signin_page(request, "phone", phone, next, exc)
    return _page(
        request,
        "owner_signin.html",
        title=N_("Owner sign-in"),
        step="code",
        phone=owner_portal.normalise_phone(phone),
        next=next,
    )


@router.post("/portal/signin")
def signin(
    request: Request,
    session: SessionDep,
    now: NowDep,
    phone: Annotated[str, Form(max_length=40)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    lang = render.lang_of(request)
    t = translator(lang)
    try:
        owners = owner_portal.verify_code(session, phone, code, client=_client(request), now=now)
    except RateLimited as exc:
        return _signin_page(request, "code", phone, next, exc)
    except DomainError as exc:
        return _signin_page(request, "phone", phone, next, exc)
    if not owners:
        return _page(
            request,
            "owner_signin.html",
            title=N_("Owner sign-in"),
            step="code",
            phone=phone,
            next=next,
            error=t("That code is wrong or has expired. Ask for a new one if needed."),
            status_code=401,
        )
    signin_audit.owner_signed(session, owners, AuditKind.SIGN_IN, now)
    response = RedirectResponse(render.safe_next(next, "/portal"), status_code=303)
    security_of(request).start_session(response, OWNER, owners[0].id, _phone_check(owners[0].phone))
    return response


@router.post("/portal/signout")
def signout(
    request: Request,
    session: SessionDep,
    now: NowDep,
    viewer: Annotated[owner_portal.Viewer | None, Depends(signed_in_owner)],
) -> Response:
    if viewer is not None:
        owners = [o for i in sorted(viewer.owner_ids) if (o := session.get(Owner, i))]
        signin_audit.owner_signed(session, owners, AuditKind.SIGN_OUT, now)
    response = RedirectResponse("/portal/signin", status_code=303)
    security_of(request).end_session(response)
    return response


# --- My complaints ----------------------------------------------------------------------


@router.get("/portal")
def my_complaints(request: Request, session: SessionDep, viewer: OwnerViewer) -> Response:
    complaints = owner_portal.my_complaints(session, viewer)
    return _page(
        request,
        "owner_home.html",
        title=N_("My complaints"),
        views=present(session, complaints),
    )


@router.get("/portal/new")
def new_form(request: Request, session: SessionDep, viewer: OwnerViewer) -> Response:
    return _page(
        request,
        "owner_new.html",
        title=N_("New complaint"),
        homes=owner_portal.my_units(session, viewer),
        max_mb=owner_portal.PHOTO_MAX_BYTES // (1024 * 1024),
        values={"idempotency_key": f"form-{uuid.uuid4().hex}"},
        errors={},
    )


@router.post("/portal/new")
async def submit(
    request: Request,
    session: SessionDep,
    viewer: OwnerViewer,
    classifier: ClassifierDep,
    now: NowDep,
    unit_id: Annotated[str, Form(max_length=20)] = "",
    text: Annotated[str, Form(max_length=20000)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
    idempotency_key: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    lang = render.lang_of(request)
    try:
        picture = None
        if photo is not None and photo.filename:
            picture = owner_portal.check_photo(await photo.read(MAX_UPLOAD))
        with session.begin_nested():  # a refusal leaves nothing of the attempt behind
            complaint = owner_portal.submit(
                session,
                viewer,
                unit_id=int(unit_id) if unit_id.isdigit() and len(unit_id) < 20 else -1,
                text=text,
                photo=picture,
                classifier=classifier,
                now=now,
                idempotency_key=idempotency_key or None,
            )
    except DomainError as exc:
        return _page(
            request,
            "owner_new.html",
            title=N_("New complaint"),
            homes=owner_portal.my_units(session, viewer),
            max_mb=owner_portal.PHOTO_MAX_BYTES // (1024 * 1024),
            values={"unit_id": unit_id, "text": text, "idempotency_key": idempotency_key},
            errors={exc.field or "text": pick(str(exc), lang)},
            status_code=422,
        )
    return RedirectResponse(f"/portal/c/{complaint.id}", status_code=303)


def _complaint_page(
    request: Request,
    session: SessionDep,
    viewer: owner_portal.Viewer,
    complaint: Complaint,
    *,
    base: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return _page(
        request,
        "owner_complaint.html",
        title=N_("My complaint"),
        view=present_one(session, complaint),
        timeline=owner_steps(session, complaint, render.lang_of(request)),
        photos=owner_portal.photos_of(session, complaint),
        base=base,
        can_rate=complaint.status == "resolved",
        error=error,
        status_code=status_code,
    )


@router.get("/portal/c/{complaint_id}")
def complaint_page(
    request: Request, complaint_id: IdPath, session: SessionDep, viewer: OwnerViewer
) -> Response:
    complaint = owner_portal.get_complaint(session, viewer, complaint_id)
    return _complaint_page(request, session, viewer, complaint, base=f"/portal/c/{complaint.id}")


def _rate(
    request: Request,
    session: SessionDep,
    viewer: owner_portal.Viewer,
    complaint: Complaint,
    now: NowDep,
    satisfaction: str,
    comment: str,
    base: str,
) -> Response:
    lang = render.lang_of(request)
    try:
        score = int(satisfaction) if satisfaction.isdigit() else 0
        with session.begin_nested():
            owner_portal.rate(session, viewer, complaint, now, satisfaction=score, comment=comment)
    except NotFound:
        raise
    except DomainError as exc:
        session.expire(complaint)
        return _complaint_page(
            request,
            session,
            viewer,
            complaint,
            base=base,
            error=pick(str(exc), lang),
            status_code=422 if exc.field else 409,
        )
    return RedirectResponse(base, status_code=303)


@router.post("/portal/c/{complaint_id}/rate")
def rate(
    request: Request,
    complaint_id: IdPath,
    session: SessionDep,
    viewer: OwnerViewer,
    now: NowDep,
    satisfaction: Annotated[str, Form(max_length=2)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    complaint = owner_portal.get_complaint(session, viewer, complaint_id)
    return _rate(
        request, session, viewer, complaint, now, satisfaction, comment, f"/portal/c/{complaint.id}"
    )


@router.get("/portal/c/{complaint_id}/photos/{photo_id}")
def photo(
    request: Request,
    complaint_id: IdPath,
    photo_id: IdPath,
    session: SessionDep,
    viewer: OwnerViewer,
) -> Response:
    found = owner_portal.get_photo(session, viewer, photo_id)
    if found.complaint_id != complaint_id:
        raise NotFound(f"photo {photo_id} not found")
    return render.photo_response(found.data, found.content_type)


# --- The link in every message ------------------------------------------------------------


def _link_viewer(
    token: str, session: SessionDep, now: NowDep
) -> tuple[owner_portal.Viewer, Complaint]:
    complaint = owner_links.complaint_for(session, token, now)
    if complaint is None:
        raise NotFound("this link is not valid (any more) / 链接无效或已失效")
    return owner_portal.Viewer(complaint_id=complaint.id), complaint


@router.get("/l/{token}")
def link_page(request: Request, token: str, session: SessionDep, now: NowDep) -> Response:
    viewer, complaint = _link_viewer(token, session, now)
    return _complaint_page(request, session, viewer, complaint, base=f"/l/{token}")


@router.post("/l/{token}/rate")
def link_rate(
    request: Request,
    token: str,
    session: SessionDep,
    now: NowDep,
    satisfaction: Annotated[str, Form(max_length=2)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    viewer, complaint = _link_viewer(token, session, now)
    return _rate(request, session, viewer, complaint, now, satisfaction, comment, f"/l/{token}")


@router.get("/l/{token}/photos/{photo_id}")
def link_photo(
    request: Request, token: str, photo_id: IdPath, session: SessionDep, now: NowDep
) -> Response:
    viewer, _ = _link_viewer(token, session, now)
    found = owner_portal.get_photo(session, viewer, photo_id)
    return render.photo_response(found.data, found.content_type)
