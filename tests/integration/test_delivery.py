"""The delivery worker on both databases: log, real SMTP and real HTTP channels,
retries with backoff, and each message sent once even with several workers."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.engine import make_sessionmaker, unit_of_work
from complaintdesk.db.models import Complaint, Outbox
from complaintdesk.domain.taxonomy import Channel as IntakeChannel
from complaintdesk.services import delivery, intake, org
from complaintdesk.services.delivery import (
    Channel,
    LogChannel,
    OutgoingMessage,
    SmtpChannel,
    WebhookChannel,
    backoff,
    channels_from_settings,
    deliver,
    message_id,
)
from complaintdesk.settings import Settings
from tests.conftest import NOW, Org, build_org

CHINESE_BODY = "王女士您好,您的投诉(TS1)已处理:更换了电梯门机板。如有疑问请致电物业服务中心。"


class Recorder:
    """A channel that records what it was asked to send; can fail or be slow."""

    name = "recorder"

    def __init__(self, *, fail: str | None = None, delay: float = 0.0) -> None:
        self.fail = fail
        self.delay = delay
        self.calls: list[OutgoingMessage] = []
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.calls.append(message)
        if self.fail:
            raise ConnectionError(self.fail)


def _all(channel: Channel) -> dict[str, Channel]:
    return {"email": channel, "sms": channel, "wechat": channel, "log": channel}


def _queue(
    session: Session,
    company_id: int,
    key: str,
    *,
    channel: str = "sms",
    status: str = "pending",
    attempts: int = 0,
    due: timedelta = timedelta(0),
    subject: str = "您的投诉已受理",
    body: str = "您好,您的投诉已受理。",
) -> Outbox:
    row = Outbox(
        company_id=company_id,
        kind="received",
        channel=channel,
        recipient="13800000001" if channel != "email" else "owner@example.test",
        language="zh",
        subject=subject,
        body=body,
        dedupe_key=key,
        status=status,
        attempts=attempts,
        created_at=NOW,
        next_attempt_at=NOW + due,
    )
    session.add(row)
    session.flush()
    return row


def _row(session: Session, key: str) -> Outbox:
    session.expire_all()
    return session.scalars(select(Outbox).where(Outbox.dedupe_key == key)).one()


def _register(session: Session, acme: Org, owner_id: int) -> Complaint:
    new = intake.NewComplaint(
        project_id=acme.project.id,
        text="8号楼电梯停了两天了,还没人来修",
        channel=IntakeChannel.PHONE,
        owner_id=owner_id,
    )
    return intake.register(session, acme.guard, new, KeywordClassifier(), NOW)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- the worker ----------------------------------------------------------------------


def test_registered_complaint_is_told_through_the_log_channel_and_marked_sent(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    complaint = _register(session, acme, acme.owner.id)
    session.commit()
    log = LogChannel()
    report = deliver(factory, _all(log), NOW)
    assert (report.claimed, report.sent, report.retried, report.failed) == (1, 1, 0, 0)
    [sent] = log.sent
    assert sent.recipient == acme.owner.phone and sent.channel == "sms"
    assert f"TS{complaint.id}" in sent.subject and "guard" in sent.body
    row = _row(session, sent.dedupe_key)
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 1, NOW, None)


def test_a_sent_message_is_never_sent_again(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    _queue(session, acme.company.id, "k:new")
    _queue(session, acme.company.id, "k:old", status="sent", attempts=1, due=-timedelta(hours=1))
    session.commit()
    recorder = Recorder()
    assert deliver(factory, _all(recorder), NOW).sent == 1
    later = deliver(factory, _all(recorder), NOW + timedelta(days=1))
    assert later.claimed == 0
    assert [m.dedupe_key for m in recorder.calls] == ["k:new"]


def test_failing_channel_retries_with_backoff_then_fails_keeping_the_error(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    _queue(session, acme.company.id, "k:flaky")
    session.commit()
    down = Recorder(fail="gateway unreachable")

    first = deliver(factory, _all(down), NOW, max_attempts=3)
    assert (first.retried, first.failed, first.sent) == (1, 0, 0)
    row = _row(session, "k:flaky")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == NOW + timedelta(minutes=1)
    assert row.last_error == "ConnectionError: gateway unreachable"

    # Not due again before its backoff has passed.
    assert deliver(factory, _all(down), NOW + timedelta(seconds=59), max_attempts=3).claimed == 0

    second = deliver(factory, _all(down), NOW + timedelta(minutes=1), max_attempts=3)
    assert second.retried == 1
    row = _row(session, "k:flaky")
    assert row.next_attempt_at == NOW + timedelta(minutes=1 + 2)

    third = deliver(factory, _all(down), NOW + timedelta(minutes=3), max_attempts=3)
    assert (third.retried, third.failed) == (0, 1)
    row = _row(session, "k:flaky")
    assert (row.status, row.attempts, row.sent_at) == ("failed", 3, None)
    assert row.last_error == "ConnectionError: gateway unreachable"
    assert deliver(factory, _all(down), NOW + timedelta(days=1), max_attempts=3).claimed == 0
    assert len(down.calls) == 3


def test_backoff_doubles_from_a_minute_and_stops_at_an_hour() -> None:
    assert [backoff(n) for n in range(1, 9)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)
    ]
    assert backoff(1000) == timedelta(hours=1)


def test_an_unrouted_channel_is_a_failure_not_a_crash(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    _queue(session, acme.company.id, "k:fax", channel="fax")
    session.commit()
    report = deliver(factory, _all(LogChannel()), NOW)
    assert report.retried == 1
    assert "no channel configured for 'fax'" in (_row(session, "k:fax").last_error or "")


def test_an_expired_lease_is_taken_over_and_a_live_one_is_left_alone(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    # A worker claimed both and died; one lease ran out a second ago.
    _queue(
        session,
        acme.company.id,
        "k:expired",
        status="sending",
        attempts=1,
        due=-timedelta(seconds=1),
    )
    _queue(
        session, acme.company.id, "k:live", status="sending", attempts=1, due=timedelta(minutes=1)
    )
    session.commit()
    recorder = Recorder()
    report = deliver(factory, _all(recorder), NOW)
    assert report.sent == 1 and [m.dedupe_key for m in recorder.calls] == ["k:expired"]
    assert (_row(session, "k:expired").status, _row(session, "k:expired").attempts) == ("sent", 2)
    assert _row(session, "k:live").status == "sending"


def test_a_claim_taken_over_by_another_worker_is_not_sent_by_the_first(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    _queue(session, acme.company.id, "k:1")
    _queue(session, acme.company.id, "k:2", due=-timedelta(seconds=1))
    session.commit()
    calls: list[str] = []

    class SlowThenTakenOver:
        """While the first message is on the wire the lease on the second runs out
        and another worker re-claims it (bumping its attempts)."""

        name = "slow"

        def send(self, message: OutgoingMessage) -> None:
            calls.append(message.dedupe_key)
            with unit_of_work(factory) as other:
                other.execute(
                    update(Outbox)
                    .where(Outbox.dedupe_key != message.dedupe_key, Outbox.status == "sending")
                    .values(attempts=Outbox.attempts + 1)
                )

    # No lease: every send checks first (as one does once half the lease has passed).
    report = deliver(factory, _all(SlowThenTakenOver()), NOW, lease=timedelta(0))
    assert report.claimed == 2 and report.sent == 1
    assert calls == ["k:2"]  # the older one first; k:1 now belongs to the other worker
    row = _row(session, "k:1")
    assert (row.status, row.attempts) == ("sending", 2)


def test_a_fresh_batch_is_sent_without_a_round_trip_per_message(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    """Nobody can take a claim over before its lease runs out, so a batch sent well
    within its lease asks the database nothing per message: one claim, one record."""
    for n in range(12):
        _queue(session, acme.company.id, f"k:{n}")
    session.commit()
    bind = factory.kw["bind"]
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(bind, "before_cursor_execute", count)
    try:
        report = deliver(factory, _all(Recorder()), NOW)
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert report.sent == 12
    outbox_selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # The claim's two queries (expired leases, then pending): no check per message.
    assert len(outbox_selects) <= 2, outbox_selects


@pytest.mark.parametrize(("passed", "second_sent"), [(149.0, True), (151.0, False)])
def test_claims_are_checked_again_once_half_the_lease_has_passed(
    factory: sessionmaker[Session],
    session: Session,
    acme: Org,
    monkeypatch: pytest.MonkeyPatch,
    passed: float,
    second_sent: bool,
) -> None:
    """The first send takes ``passed`` seconds of a 5-minute lease, while another worker
    re-claims the second message (bumping its attempts). Under half the lease the
    worker does not ask (nobody could have taken it over yet: here the take-over is
    staged); past half the lease it asks, finds the claim gone and leaves it."""
    _queue(session, acme.company.id, "k:1", due=-timedelta(seconds=2))
    _queue(session, acme.company.id, "k:2", due=-timedelta(seconds=1))
    session.commit()
    clock = [1000.0]
    monkeypatch.setattr(delivery, "_clock", lambda: clock[0])
    calls: list[str] = []

    class SlowThenTakenOver:
        name = "slow"

        def send(self, message: OutgoingMessage) -> None:
            calls.append(message.dedupe_key)
            if len(calls) == 1:
                clock[0] += passed
                with unit_of_work(factory) as other:
                    other.execute(
                        update(Outbox)
                        .where(Outbox.dedupe_key == "k:2")
                        .values(attempts=Outbox.attempts + 1)
                    )

    report = deliver(factory, _all(SlowThenTakenOver()), NOW, lease=timedelta(minutes=5))
    assert report.claimed == 2
    assert calls == (["k:1", "k:2"] if second_sent else ["k:1"])
    assert report.sent == (2 if second_sent else 1)


def test_concurrent_deliverers_send_each_message_exactly_once(fresh_engine: Engine) -> None:
    with unit_of_work(make_sessionmaker(fresh_engine)) as session:
        company_id = build_org(session).company.id
        for n in range(60):
            _queue(session, company_id, f"k:{n}")
    recorder = Recorder(delay=0.002)
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        factory = make_sessionmaker(fresh_engine)  # each worker its own sessions
        try:
            barrier.wait(timeout=10)
            while deliver(factory, _all(recorder), NOW, batch=7).claimed:
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    counts = Counter(m.dedupe_key for m in recorder.calls)
    assert len(counts) == 60 and set(counts.values()) == {1}
    with make_sessionmaker(fresh_engine)() as session:
        rows = session.execute(select(Outbox.status, Outbox.attempts)).all()
    assert Counter(tuple(r) for r in rows) == {("sent", 1): 60}


def test_a_batch_is_sent_concurrently_and_recorded_once(fresh_engine: Engine) -> None:
    factory = make_sessionmaker(fresh_engine)  # real commits: the senders are threads
    with unit_of_work(factory) as session:
        company_id = build_org(session).company.id
        for n in range(24):
            _queue(session, company_id, f"k:{n}")
        _queue(session, company_id, "k:bad", channel="fax")  # no route: a failure
    in_flight = 0
    most = 0
    lock = threading.Lock()

    class Slow(Recorder):
        def send(self, message: OutgoingMessage) -> None:
            nonlocal in_flight, most
            with lock:
                in_flight += 1
                most = max(most, in_flight)
            try:
                super().send(message)
            finally:
                with lock:
                    in_flight -= 1

    recorder = Slow(delay=0.02)
    with ThreadPoolExecutor(6) as pool:
        report = deliver(factory, _all(recorder), NOW, pool=pool)
    assert (report.claimed, report.sent, report.retried) == (25, 24, 1)
    assert most > 1  # several on the wire at once
    assert Counter(m.dedupe_key for m in recorder.calls) == {f"k:{n}": 1 for n in range(24)}
    with factory() as session:
        assert _row(session, "k:3").status == "sent"
        assert _row(session, "k:bad").status == "pending"


def test_channels_follow_the_settings() -> None:
    plain = channels_from_settings(Settings(smtp_host=None, webhook_url=None))
    assert {name: c.name for name, c in plain.items()} == {
        "email": "log",
        "sms": "log",
        "wechat": "log",
        "log": "log",
    }
    wired = channels_from_settings(
        Settings(smtp_host="mail.example.test", webhook_url="https://gw.example.test/send")
    )
    assert isinstance(wired["email"], SmtpChannel)
    assert isinstance(wired["sms"], WebhookChannel) and wired["sms"] is wired["wechat"]
    assert wired["log"].name == "log"


# --- SMTP against a real local server --------------------------------------------------


@dataclass
class Mailbox:
    port: int
    envelopes: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and data.password == b"s3cret":
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=_free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=box.authenticate,
        auth_require_tls=False,
        ready_timeout=5,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def test_email_goes_through_a_real_smtp_server_with_chinese_intact(
    factory: sessionmaker[Session], session: Session, acme: Org, mailbox: Mailbox
) -> None:
    owner = org.create_owner(
        session,
        acme.company,
        name="李先生",
        email="li@example.test",
        contact_channel="email",
        unit_ids=[acme.unit.id],
    )
    complaint = _register(session, acme, owner.id)
    _queue(
        session,
        acme.company.id,
        "k:chinese",
        channel="email",
        subject="处理结果通知",
        body=CHINESE_BODY,
    )
    session.commit()
    settings = Settings(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_sender="物业客服 <desk@acme.example.test>",
        smtp_user="desk",
        smtp_password="s3cret",
    )
    report = deliver(factory, channels_from_settings(settings), NOW)
    assert report.sent == 2 and report.retried == 0
    assert mailbox.logins == ["desk", "desk"]
    received = {}
    for envelope in mailbox.envelopes:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        received[tuple(envelope.rcpt_tos)] = parsed
        assert envelope.mail_from == "desk@acme.example.test"

    told = received[("li@example.test",)]
    assert told["Subject"] == f"您的投诉已受理 TS{complaint.id}"
    body = told.get_content()
    assert body.startswith("李先生您好") and "guard" in body
    row = session.scalars(select(Outbox).where(Outbox.complaint_id == complaint.id)).one()
    assert told["Message-ID"] == message_id(row.dedupe_key, "acme.example.test")

    chinese = received[("owner@example.test",)]
    assert chinese["Subject"] == "处理结果通知"
    assert chinese.get_content().rstrip("\n") == CHINESE_BODY
    assert chinese["Message-ID"] == message_id("k:chinese", "acme.example.test")
    assert chinese["From"].addresses[0].display_name == "物业客服"
    assert chinese["Content-Language"] == "zh" and chinese["Auto-Submitted"] == "auto-generated"


def test_smtp_message_id_is_stable_across_resends() -> None:
    channel = SmtpChannel("127.0.0.1", sender="desk@acme.example.test")
    message = OutgoingMessage(1, "owner:42", "email", "a@example.test", "zh", "主题", "正文")
    first, again = channel.build(message), channel.build(message)
    digest = hashlib.sha256(b"owner:42").hexdigest()[:16]
    assert first["Message-ID"] == again["Message-ID"] == f"<owner-42.{digest}@acme.example.test>"


def test_an_unreachable_smtp_server_means_a_retry(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    _queue(session, acme.company.id, "k:mail", channel="email")
    session.commit()
    channels = channels_from_settings(Settings(smtp_host="127.0.0.1", smtp_port=_free_port()))
    assert deliver(factory, channels, NOW).retried == 1
    row = _row(session, "k:mail")
    assert row.status == "pending" and "ConnectionRefusedError" in (row.last_error or "")


# --- webhook against a real local HTTP server -----------------------------------------


@dataclass
class Gateway:
    url: str
    answers: list[int]  # status codes to give, in order; then 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway(url="", answers=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_sms_goes_to_the_webhook_signed_with_an_idempotency_key(
    factory: sessionmaker[Session], session: Session, acme: Org, gateway: Gateway
) -> None:
    complaint = _register(session, acme, acme.owner.id)
    session.commit()
    settings = Settings(webhook_url=gateway.url, webhook_secret="hush")
    assert deliver(factory, channels_from_settings(settings), NOW).sent == 1
    [(headers, raw)] = gateway.requests
    row = session.scalars(select(Outbox).where(Outbox.complaint_id == complaint.id)).one()
    assert json.loads(raw) == {
        "id": row.id,
        "dedupe_key": row.dedupe_key,
        "channel": "sms",
        "recipient": acme.owner.phone,
        "language": "zh",
        "subject": row.subject,
        "body": row.body,
    }
    assert "王女士" in json.loads(raw)["body"]
    assert headers["idempotency-key"] == row.dedupe_key
    expected = hmac.new(b"hush", raw, hashlib.sha256).hexdigest()
    assert headers["x-complaintdesk-signature"] == f"sha256={expected}"
    assert headers["content-type"].startswith("application/json")


def test_a_500_from_the_webhook_is_retried_with_the_same_idempotency_key(
    factory: sessionmaker[Session], session: Session, acme: Org, gateway: Gateway
) -> None:
    gateway.answers = [500]
    _queue(session, acme.company.id, "k:wechat", channel="wechat")
    session.commit()
    channels = channels_from_settings(Settings(webhook_url=gateway.url))
    assert deliver(factory, channels, NOW).retried == 1
    row = _row(session, "k:wechat")
    assert row.status == "pending" and "500" in (row.last_error or "")
    assert deliver(factory, channels, NOW + timedelta(minutes=1)).sent == 1
    assert _row(session, "k:wechat").status == "sent"
    keys = [headers["idempotency-key"] for headers, _ in gateway.requests]
    assert keys == ["k:wechat", "k:wechat"]
    assert all("x-complaintdesk-signature" not in headers for headers, _ in gateway.requests)
