"""The one Settings class: every DISPATCHWIRE_* variable, with its default."""

import os
import re
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from dispatchwire.errors import ConfigurationError

__all__ = ["ENV_FILE", "ClientSettings", "Settings"]

MIN_SECRET_LENGTH = 32
PLACEHOLDER_SECRETS = {"changethis", "secret", "changeme", "your-secret-key"}
# A host name or an IP address (IPv6 without brackets) in DISPATCHWIRE_PUSH_ALLOWED_HOSTS.
_HOST = re.compile(r"[A-Za-z0-9.:-]+")
ENV_FILE = "dispatchwire.env"  # read from the working folder at start, when it is there


class Settings(BaseSettings):
    """Configuration read from DISPATCHWIRE_* environment variables (or given directly)."""

    model_config = SettingsConfigDict(env_prefix="DISPATCHWIRE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///./dispatchwire.db"
    broker_url: str = "memory://"
    jwt_secret: SecretStr | None = None
    # Secrets tokens were signed with before a rotation, comma-separated: their tokens are
    # accepted until they expire; new ones are signed with `jwt_secret` (README, "Rotating
    # the JWT secret").
    jwt_previous_secrets: SecretStr | None = None
    jwt_ttl_s: int = Field(default=12 * 3600, gt=0)
    assignment_timeout_s: float = Field(default=300.0, gt=0)
    subscription_stale_s: float = Field(default=300.0, gt=0)
    # An offer not proven delivered this long after it was made ends `undelivered` and its
    # order moves on (0: never); its master gets nothing more until he is next seen.
    undelivered_timeout_s: float = Field(default=60.0, ge=0)
    # Dispatch policies (README, "Dispatch rules"). An order is offered to up to this many
    # masters at once; the first accept wins, the others' offers end `taken`.
    offer_fanout: int = Field(default=1, ge=1, le=16)
    # After a decline the master is offered nothing for this long.
    decline_cooldown_s: float = Field(default=0.0, ge=0)
    # Escalate an order to the admins after this many masters refused it (0: never) ...
    escalate_after: int = Field(default=3, ge=0)
    # ... or after it has waited this long in `new` (0: never).
    escalate_wait_s: float = Field(default=600.0, ge=0)
    # Self-registered masters cannot start a shift until an admin approves them.
    masters_need_approval: bool = True
    # The WebSocket gateway (docs/websocket-api.md).
    ws_auth_timeout_s: float = Field(default=10.0, gt=0)
    ws_ping_interval_s: float = Field(default=20.0, gt=0)  # server keepalive pings
    ws_ping_timeout_s: float = Field(default=20.0, gt=0)
    ws_rate_per_s: float = Field(default=20.0, gt=0)  # messages a socket may send, on average
    ws_rate_burst: int = Field(default=40, ge=1)
    ws_send_queue: int = Field(default=256, ge=1)  # frames waiting for a slow reader
    ws_send_timeout_s: float = Field(default=10.0, gt=0)
    ws_max_sockets_per_user: int = Field(default=5, ge=1)
    ws_compression: bool = True  # permessage-deflate, when the client offers it
    # A safety net for offers made by other processes; the loop is woken early in-process
    # and by offers it hears of on the broker.
    expiry_max_sleep_s: float = Field(default=30.0, gt=0)
    # How often a process shares its presence with the cluster (a dead process's entry is
    # gone after three intervals).
    presence_interval_s: float = Field(default=5.0, gt=0)
    # Stored events older than this are deleted in the background (a week); a resume from
    # before the oldest kept event is told `recovered: false` and reloads by REST.
    event_retention_s: float = Field(default=604800.0, gt=0)
    # Failed logins to one email allowed within the window before 429s.
    login_max_failures: int = Field(default=10, ge=1)
    login_failure_window_s: float = Field(default=300.0, gt=0)
    log_level: str = "info"
    # `text` for people; `json` for machines: one object a line, with the ids it is about.
    log_format: Literal["text", "json"] = "text"
    # uvicorn's line per HTTP request. Off by default: every change is logged by the service
    # that makes it, and every refused request by the app; at hundreds of orders a second the
    # access log was a third of the log lines and ~3% of the CPU.
    access_log: bool = False
    demo: bool = False
    # Argon2 cost; lowered only by the test-suite, whose thousands of hashes would otherwise
    # dominate its run time.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    # Push when the socket is not there (dispatchwire.push). Without a VAPID key on
    # PostgreSQL Web Push is off; without FCM credentials FCM is off.
    vapid_private_key: SecretStr | None = None  # PEM, or base64url of the raw 32-byte key
    vapid_subject: str = "mailto:ops@dispatchwire.invalid"  # who push services may contact
    fcm_credentials: Path | None = None  # a service-account JSON file
    fcm_url: str = "https://fcm.googleapis.com"
    push_after_s: float = Field(default=3.0, ge=0)
    # Web Push endpoints must be on these hosts or their subdomains (the SSRF boundary):
    # Chrome's, Firefox's, Edge's and Safari's push services.
    push_allowed_hosts: str = ("fcm.googleapis.com,push.services.mozilla.com,"
                               "notify.windows.com,push.apple.com")
    push_timeout_s: float = Field(default=5.0, gt=0)
    # The job after the offer: a master on a job shares his position at most once per
    # interval; the first of each interval is kept and sent, later ones are dropped.
    location_min_interval_s: float = Field(default=2.0, gt=0)
    # New orders are refused (503, Retry-After) while requests stay in the server longer than
    # this on average, 300 ms in a row (http/overload.py); 0 takes every order.
    overload_queue_ms: float = Field(default=20.0, ge=0)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept plain `sqlite://` and `postgresql://` URLs and pick the async driver."""
        url = make_url(value)
        drivers = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg",
                   "postgres": "postgresql+asyncpg"}
        if url.drivername in drivers:
            url = url.set(drivername=drivers[url.drivername])
        if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError(
                f"unsupported database URL scheme {url.drivername!r}: "
                "expected sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        if url.drivername == "sqlite+aiosqlite" and url.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database is not supported: give a file, "
                             "e.g. sqlite:///./dispatchwire.db")
        return url.render_as_string(hide_password=False)

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_subject(cls, value: str) -> str:
        """RFC 8292: the contact is a `mailto:` or an `https:` URI."""
        if not value.startswith(("mailto:", "https://")):
            raise ValueError("expected a mailto: address or an https:// URL")
        return value

    @field_validator("fcm_url")
    @classmethod
    def _fcm_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("expected an http(s):// URL, e.g. https://fcm.googleapis.com")
        return value.rstrip("/")

    @field_validator("push_allowed_hosts")
    @classmethod
    def _push_hosts(cls, value: str) -> str:
        for host in value.split(","):
            if host.strip() and not _HOST.fullmatch(host.strip()):
                raise ValueError("expected comma-separated host names, no scheme or port")
        return value

    @property
    def push_hosts(self) -> tuple[str, ...]:
        """`push_allowed_hosts` as lower-case names, without blanks or trailing dots."""
        hosts = (host.strip().lower().rstrip(".") for host in self.push_allowed_hosts.split(","))
        return tuple(host for host in hosts if host)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None for PostgreSQL."""
        database = make_url(self.database_url).database
        return Path(database).resolve() if self.is_sqlite and database else None

    def resolve_jwt_secret(self) -> str:
        """The JWT signing secret: given, or kept beside the SQLite file; never a default."""
        if self.jwt_secret is not None:
            return _checked_secret(self.jwt_secret.get_secret_value(), "DISPATCHWIRE_JWT_SECRET")
        if not self.is_sqlite:
            raise ConfigurationError(
                "DISPATCHWIRE_JWT_SECRET must be set when the database is PostgreSQL "
                "(every process must sign tokens with the same secret); "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        path = self.sqlite_path
        if path is None:
            raise ConfigurationError("no SQLite file to keep the JWT secret beside")
        return _secret_file(path.with_name(path.name + ".jwt-secret"))

    def resolve_previous_jwt_secrets(self) -> list[str]:
        """The secrets of a rotation still accepted, each as strong as a current one must be."""
        given = self.jwt_previous_secrets.get_secret_value() if self.jwt_previous_secrets else ""
        return [_checked_secret(secret, "DISPATCHWIRE_JWT_PREVIOUS_SECRETS")
                for secret in (part.strip() for part in given.split(",")) if secret]


class ClientSettings(BaseSettings):
    """What the terminal apps (`dispatchwire master`, `watch`) read: none of the server's."""

    model_config = SettingsConfigDict(env_prefix="DISPATCHWIRE_", extra="ignore")

    url: str = "http://127.0.0.1:3000"  # the server's address, as its clients reach it


def _checked_secret(secret: str, name: str) -> str:
    if secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"{name} is too weak: use at least {MIN_SECRET_LENGTH} random characters, "
            "not a placeholder"
        )
    return secret


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _secret_file(path: Path) -> str:
    """Read the secret kept in `path`, creating it (mode 0600) on first use."""
    if path.exists():
        return _checked_secret(path.read_text().strip(), f"the JWT secret kept in {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        with open(path, "x", opener=_private_opener) as f:
            f.write(secret + "\n")
    except FileExistsError:  # another process created it first: use theirs
        return _checked_secret(path.read_text().strip(), f"the JWT secret kept in {path}")
    return secret
