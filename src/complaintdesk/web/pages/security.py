"""Sessions and CSRF for the pages, with itsdangerous signatures (no hand-made crypto).

Sessions are signed cookies, not server-side rows: a cookie carries who signed in
and when, signed with the app's secret and refused after ``SESSION_MAX_AGE``. Reading
it costs no database write and holds across worker processes; it is bound to a
fingerprint of the person's password hash, so changing the password (or deactivating
the person) ends every session at once. Sign-out clears the cookie. The cookie is
HttpOnly and SameSite=Lax, and Secure when ``COMPLAINTDESK_COOKIE_SECURE`` is set.

CSRF: a signed double-submit token. The ``cd_csrf`` cookie holds a random nonce; each
form carries the nonce signed with the secret (and HTMX sends it as ``X-CSRF-Token``);
a state-changing request whose token does not match its cookie is refused (403).
SameSite=Lax already stops most cross-site posts; the token covers the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

SESSION_COOKIE = "cd_session"
CSRF_COOKIE = "cd_csrf"
LANG_COOKIE = "cd_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_MAX_AGE = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def fingerprint(password_hash: str | None) -> str:
    """A short digest of a password hash: changes when the password does."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Signed:
    """Who a session cookie says signed in: ``kind`` ("staff", "owner"…), an id and
    the fingerprint it was bound to."""

    kind: str
    subject: int
    check: str


class Security:
    """The app's signers; one per app (``app.state.security``)."""

    def __init__(self, secret_key: str, *, secure_cookies: bool = False) -> None:
        self._session = URLSafeTimedSerializer(secret_key, salt="complaintdesk.session")
        self._csrf = URLSafeSerializer(secret_key, salt="complaintdesk.csrf")
        self.secure_cookies = secure_cookies

    # --- sessions -----------------------------------------------------------------

    def start_session(self, response: Response, kind: str, subject: int, check: str) -> None:
        value = self._session.dumps({"k": kind, "s": str(subject), "c": check})
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=int(SESSION_MAX_AGE.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=self.secure_cookies,
            path="/",
        )

    def end_session(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure_cookies
        )

    def read_session(self, request: Request) -> Signed | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._session.loads(raw, max_age=int(SESSION_MAX_AGE.total_seconds()))
            return Signed(str(data["k"]), int(data["s"]), str(data["c"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    # --- CSRF ---------------------------------------------------------------------

    def csrf_token(self, request: Request) -> str:
        """The token to put in this page's forms (the nonce is made if missing and
        set as a cookie by :meth:`keep_csrf_cookie`)."""
        nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_nonce", None)
        if not nonce:
            nonce = secrets.token_urlsafe(24)
            request.state.csrf_nonce = nonce
        return str(self._csrf.dumps(nonce))

    def keep_csrf_cookie(self, request: Request, response: Response) -> None:
        nonce = getattr(request.state, "csrf_nonce", None)
        if nonce and CSRF_COOKIE not in request.cookies:
            response.set_cookie(
                CSRF_COOKIE, nonce, httponly=True, samesite="lax", secure=self.secure_cookies
            )

    def csrf_ok(self, request: Request, token: str | None) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or not token:
            return False
        try:
            signed = self._csrf.loads(token)
        except BadSignature:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed, nonce)


def security_of(request: Request) -> Security:
    security: Security = request.app.state.security
    return security
