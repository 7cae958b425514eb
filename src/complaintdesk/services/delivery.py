"""The delivery worker: sends what the outbox holds, with retries, each message once.

A run has three steps, so that no transaction is held open across the network:

1. **Claim** the due messages in one short transaction: ``pending`` rows whose
   ``next_attempt_at`` has come, and ``sending`` rows whose lease has expired (their
   claimer died between claiming and recording). Each is set ``sending`` with
   ``attempts + 1`` and leased until ``now + lease``. On PostgreSQL the claim takes
   the rows with ``FOR UPDATE SKIP LOCKED``; SQLite's IMMEDIATE transactions
   serialise claimers outright.
2. **Send** each claimed message through its channel, outside any transaction,
   several at once when given a thread pool.
3. **Record** the results in one transaction: ``sent`` with ``sent_at`` (one UPDATE
   for the batch), or the error and back to ``pending`` with exponential backoff, or
   ``failed`` after ``max_attempts``.

Only the claimer sends, and a claim is fenced by its attempt number: a claimer
records a failure only if the row is still its own (still ``sending``, same
``attempts``), and once half the lease has passed since the claim it re-checks that
before each send. Before that no other worker can have taken the message over (a
claim is taken over only when its lease has run out), so a fresh batch is sent
without a round trip per message. The one way a message goes out
twice is a crash (or a send slower than the lease) between sending and recording
(a crash resends the rest of its batch);
the resend carries the same ``Message-ID`` / ``Idempotency-Key`` (both derived from
``dedupe_key``) so the mail system or gateway can drop it. See docs/notifications.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Protocol, cast

import httpx
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.models import Outbox
from complaintdesk.domain.privacy import mask_contact, mask_text
from complaintdesk.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=1)
_ERROR_CHARS = 2000


@dataclass(frozen=True)
class OutgoingMessage:
    """One outbox row as a channel sees it: plain values, no database session."""

    id: int
    dedupe_key: str
    channel: str
    recipient: str
    language: str
    subject: str
    body: str


class Channel(Protocol):
    """Sends one message; returns normally when it was accepted, raises otherwise."""

    name: str

    def send(self, message: OutgoingMessage) -> None: ...


class LogChannel:
    """The default: writes each message to the log and keeps it in ``sent``.

    Nothing leaves the machine, so a demo or a test can see what would have been sent.
    """

    name = "log"

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> None:
        log.info(
            "message %s to %s via %s [%s]: %s | %s",
            message.dedupe_key,
            mask_contact(message.recipient),  # logs are read by many: no full contacts
            message.channel,
            message.language,
            message.subject,
            mask_text(message.body),
        )
        with self._lock:
            self.sent.append(message)


def message_id(dedupe_key: str, domain: str) -> str:
    """A ``Message-ID`` that is the same every time the same message is sent, so a
    resend after a crash can be recognised as a duplicate downstream."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", dedupe_key).strip("-")[:60] or "message"
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:16]
    return f"<{readable}.{digest}@{domain}>"


class SmtpChannel:
    """Email through a real SMTP server (optionally STARTTLS and login).

    One connection per message: simple, and a broken connection fails only its message.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str = "complaintdesk@localhost",
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.user = user
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        address = parseaddr(sender)[1]
        self.domain = address.rpartition("@")[2] or "complaintdesk.local"

    def build(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = message_id(message.dedupe_key, self.domain)
        email["Auto-Submitted"] = "auto-generated"
        # Non-ASCII text goes as base64, so it needs no 8BITMIME.
        email.set_content(message.body, charset="utf-8", cte=_text_cte(message.body))
        email["Content-Language"] = message.language  # after set_content, which drops it
        return email

    def send(self, message: OutgoingMessage) -> None:
        email = self.build(message)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password or "")
            refused = smtp.send_message(email, to_addrs=[message.recipient])
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)


def _text_cte(text: str) -> str | None:
    # None lets the library pick 7bit or quoted-printable for ASCII text.
    return None if text.isascii() else "base64"


class WebhookChannel:
    """SMS and WeChat through a gateway: a JSON POST to one URL.

    ``Idempotency-Key`` is the message's ``dedupe_key``; with a secret, the body is
    signed as ``X-ComplaintDesk-Signature: sha256=<hex HMAC-SHA256 of the body>``.
    Any answer but 2xx is a failure (and so a retry).
    """

    name = "webhook"

    def __init__(self, url: str, *, secret: str | None = None, timeout: float = 10.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def payload(self, message: OutgoingMessage) -> bytes:
        return json.dumps(asdict(message), ensure_ascii=False).encode("utf-8")

    def headers(self, body: bytes, message: OutgoingMessage) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.dedupe_key,
        }
        if self.secret:
            digest = hmac.new(self.secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers["X-ComplaintDesk-Signature"] = f"sha256={digest}"
        return headers

    def send(self, message: OutgoingMessage) -> None:
        body = self.payload(message)
        response = httpx.post(
            self.url, content=body, headers=self.headers(body, message), timeout=self.timeout
        )
        if not response.is_success:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:200]}")


def channels_from_settings(settings: Settings) -> dict[str, Channel]:
    """Route each outbox channel: email to SMTP when a host is set, SMS and WeChat to
    the webhook when a URL is set, everything else to the log."""
    log_channel = LogChannel()
    email: Channel = log_channel
    gateway: Channel = log_channel
    if settings.smtp_host:
        email = SmtpChannel(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_sender,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    if settings.webhook_url:
        gateway = WebhookChannel(settings.webhook_url, secret=settings.webhook_secret)
    return {"email": email, "sms": gateway, "wechat": gateway, "log": log_channel}


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0

    def __str__(self) -> str:
        return (
            f"claimed={self.claimed} sent={self.sent} retried={self.retried} failed={self.failed}"
        )


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed try: 1, 2, 4 … minutes, at
    most an hour."""
    return min(timedelta(minutes=2 ** min(max(attempts - 1, 0), 10)), MAX_BACKOFF)


@dataclass(frozen=True)
class _Claim:
    message: OutgoingMessage
    attempts: int  # the fencing token: whoever claims again bumps it
    safe_until: float  # _clock() until which nobody else can have taken it


def deliver(
    factory: sessionmaker[Session],
    channels: Mapping[str, Channel],
    now: datetime,
    *,
    batch: int = 100,
    max_attempts: int = 8,
    lease: timedelta = DEFAULT_LEASE,
    pool: Executor | None = None,
) -> DeliveryReport:
    """Claim up to ``batch`` due messages, send them, and record the results.

    One batch per call; call again (``report.claimed == batch``) to drain a backlog,
    with a fresh ``now`` so that each claim's lease starts when it is made. With a
    ``pool`` the batch's messages are sent concurrently (each still checked to be
    ours just before it goes); without one, one after another in claim order. The
    results are recorded together in one transaction: a crash before it resends the
    batch, with the same ``Message-ID`` / ``Idempotency-Key``.
    """
    report = DeliveryReport()
    # Counted from before the claim, as the lease in the database is (from ``now``):
    # whatever the claim takes comes out of the margin. Half the lease: a margin for
    # clocks that differ between workers.
    safe_until = _clock() + lease.total_seconds() / 2
    claims = _claim(factory, now, batch, lease, safe_until)
    report.claimed = len(claims)

    def send(claim: _Claim) -> str | None:
        return _send(factory, channels, claim)

    errors = list(pool.map(send, claims) if pool is not None else map(send, claims))
    sent = [c for c, e in zip(claims, errors, strict=True) if e is None]
    failed = [(c, e) for c, e in zip(claims, errors, strict=True) if e is not None and e != _LOST]
    with unit_of_work(factory) as session:
        if sent:
            # Not fenced by attempts: the message did go out, whoever holds the claim now.
            session.execute(
                update(Outbox)
                .where(Outbox.id.in_([c.message.id for c in sent]), Outbox.status != "sent")
                .values(status="sent", sent_at=now, last_error=None)
                .execution_options(synchronize_session=False)
            )
        report.sent = len(sent)
        for claim, error in failed:
            outcome = _record_failure(session, claim, now, error, max_attempts)
            if outcome == "failed":
                report.failed += 1
            elif outcome == "pending":
                report.retried += 1
    return report


_LOST = "\0lost"  # our lease ran out and another worker took the message over


def _send(
    factory: sessionmaker[Session], channels: Mapping[str, Channel], claim: _Claim
) -> str | None:
    """Send one claimed message: None when it went out, else why not."""
    if _clock() >= claim.safe_until and not _still_ours(factory, claim):
        return _LOST
    message = claim.message
    try:
        channel = channels.get(message.channel)
        if channel is None:
            raise LookupError(f"no channel configured for {message.channel!r}")
        channel.send(message)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
        log.warning(
            "message %s attempt %d failed: %s",
            message.dedupe_key,
            claim.attempts,
            mask_text(str(error)),  # a gateway's error may quote the number
        )
        return error
    return None


def _clock() -> float:
    """Seconds on a clock that never goes back and keeps counting while the machine
    sleeps (Linux's boot time clock; monotonic elsewhere): a worker woken from a
    suspend longer than half the lease must check its claims again, as other workers'
    clocks went on."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


def _claim(
    factory: sessionmaker[Session], now: datetime, batch: int, lease: timedelta, safe_until: float
) -> list[_Claim]:
    with unit_of_work(factory) as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        rows: list[Outbox] = []
        # Expired leases first (there are few), then pending rows. Two queries, not
        # one ``IN``, so the pending one can use the partial index on pending rows.
        for status in ("sending", "pending"):
            if len(rows) >= batch:
                break
            query = (
                select(Outbox)
                .where(Outbox.status == status, Outbox.next_attempt_at <= now)
                .order_by(Outbox.next_attempt_at, Outbox.id)
                .limit(batch - len(rows))
            )
            if postgres:
                query = query.with_for_update(skip_locked=True)
            rows += session.scalars(query)
        claims = []
        for row in rows:
            row.status = "sending"
            row.attempts += 1
            row.next_attempt_at = now + lease
            claims.append(
                _Claim(
                    OutgoingMessage(
                        id=row.id,
                        dedupe_key=row.dedupe_key,
                        channel=row.channel,
                        recipient=row.recipient,
                        language=row.language,
                        subject=row.subject,
                        body=row.body,
                    ),
                    row.attempts,
                    safe_until,
                )
            )
    return claims


def _ours(claim: _Claim) -> Any:
    return (
        (Outbox.id == claim.message.id)
        & (Outbox.status == "sending")
        & (Outbox.attempts == claim.attempts)
    )


def _still_ours(factory: sessionmaker[Session], claim: _Claim) -> bool:
    with factory() as session:
        return session.scalar(select(Outbox.id).where(_ours(claim))) is not None


def _record_failure(
    session: Session,
    claim: _Claim,
    now: datetime,
    error: str,
    max_attempts: int,
) -> str | None:
    """Back to pending with backoff, or failed for good; None if the claim was lost."""
    status = "failed" if claim.attempts >= max_attempts else "pending"
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Outbox)
            .where(_ours(claim))
            .values(
                status=status,
                last_error=error,
                next_attempt_at=now + backoff(claim.attempts),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    return status if result.rowcount == 1 else None
