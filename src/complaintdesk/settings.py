"""Configuration from the environment (prefix ``COMPLAINTDESK_``, plus ``DATABASE_URL``)."""

from __future__ import annotations

import functools
import os
import secrets
import tempfile
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE = "sqlite:///" + str(Path("var") / "complaintdesk.db")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTDESK_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_SQLITE,
        validation_alias=AliasChoices("DATABASE_URL", "COMPLAINTDESK_DATABASE_URL"),
    )
    sweep_interval_seconds: float = 60.0
    deliver_interval_seconds: float = 2.0
    """How long the delivery worker waits when the outbox has nothing due; while
    messages are due it sends batch after batch without waiting."""
    deliver_batch_size: int = 200
    """Messages claimed per delivery transaction."""
    deliver_concurrency: int = 8
    """Messages of a batch sent at the same time (threads): webhook and SMTP sends
    wait on the network, so several in flight keep delivery ahead of intake."""
    db_pool_size: int = 10
    """Connections each serving process keeps open (PostgreSQL); ``serve --workers N``
    opens up to N × (pool size + overflow) + 4 (sweeper and delivery)."""
    db_max_overflow: int = 5
    """Connections a process may open beyond the pool at a peak (closed afterwards)."""
    db_pool_timeout_seconds: float = 10.0
    """How long a request waits for a free connection before it fails."""
    node_lock_dir: Path = Path(tempfile.gettempdir()) / "complaintdesk-nodes"
    """Where ``serve`` processes hold the lock on their id node numbers."""
    heartbeat_stale_seconds: float = 15.0
    """A worker's /readyz reports the supervisor's jobs stopped when its heartbeat is
    older than this."""
    db_pool_pre_ping: bool = True
    """Check each connection as it leaves the pool (one round trip per request):
    survives a database restart without a failed request; off saves that round trip."""
    warm_at_start: bool = True
    """``serve`` (with its background jobs, PostgreSQL) reads the hot indexes into
    shared buffers once at start, in the background (``complaintdesk db warm``,
    docs/operations.md)."""
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_sender: str = "complaintdesk@localhost"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    delivery_max_attempts: int = 8
    outbox_retention_days: float = 30.0
    purge_interval_seconds: float = 3600.0
    # Where owners open the links in their messages (no trailing slash).
    public_url: str = "http://127.0.0.1:8000"
    token_requests_per_minute: int = 600
    """Per token and per serving process (see services/throttle for why in memory)."""
    address_requests_per_minute: int = 1200
    """Per client address and process, every authenticated request."""
    failed_tokens_per_minute: int = 20
    """Per client address and process: wrong tokens answered 401, then 429."""
    personal_lookups_per_minute: int = 30
    """Owner look-ups (by phone, by id) per staff member and per address, per process."""
    access_log: bool = True
    """One JSON line per request (request id, caller, route, status, time; contacts
    masked). ``serve --no-access-log`` turns it off."""
    max_body_bytes: int = 1_048_576
    """Largest request body (JSON, forms): a complaint of 10,000 characters in four
    fields, each escaped to six bytes a character, fits with room to spare."""
    max_upload_bytes: int = 8_388_608
    """Largest body on the upload paths below (an owner's photos)."""
    upload_path_prefixes: tuple[str, ...] = ("/portal/",)
    # Signs the pages' session and CSRF cookies; unset: made once in secret_key_file.
    secret_key: str | None = None
    secret_key_file: Path = Path("var") / "secret-key"
    cookie_secure: bool = False  # set behind HTTPS: cookies only travel encrypted


@functools.cache
def get_settings() -> Settings:
    return Settings()


def load_secret_key(path: Path) -> str:
    """The secret in ``path``, made once (0600) if missing. Every worker of one
    installation reads the same file, so each accepts the others' cookies."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def secret_key() -> str:
    """The installation's secret: ``COMPLAINTDESK_SECRET_KEY``, else the one in
    ``secret_key_file`` (made once)."""
    settings = get_settings()
    return settings.secret_key or load_secret_key(settings.secret_key_file)
