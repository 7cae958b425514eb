"""Configuration from the environment (prefix ``COMPLAINTDESK_``, plus ``DATABASE_URL``)."""

from __future__ import annotations

import functools
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
    deliver_interval_seconds: float = 10.0
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_sender: str = "complaintdesk@localhost"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    delivery_max_attempts: int = 8
    # Where owners open the links in their messages (no trailing slash).
    public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 1_048_576
    """Largest request body (JSON, forms): a complaint of 10,000 characters in four
    fields, each escaped to six bytes a character, fits with room to spare."""
    max_upload_bytes: int = 8_388_608
    """Largest body on the upload paths below (an owner's photos)."""
    upload_path_prefixes: tuple[str, ...] = ("/portal/",)


@functools.cache
def get_settings() -> Settings:
    return Settings()
