"""The exception tree of dispatchwire.

    DispatchwireError            base of every error the project raises on purpose
    ├── ConfigurationError       settings that cannot work; the server refuses to start
    └── DomainError              a request the domain rules refuse (mapped to an HTTP status)
        ├── InvalidInput         422: the input breaks a rule a schema cannot express
        ├── Unauthorized         401: no valid credentials
        ├── Forbidden            403: the caller's role may not do this
        ├── NotFound             404: absent, or not the caller's to see
        ├── Conflict             409: the current state forbids the move
        ├── TooManyRequests      429: slow down (e.g. repeated failed logins)
        └── ServiceUnavailable   503: the database is out of reach for now (`Retry-After`)

Messages name what was wrong and what was expected, and never echo secrets or tokens.
"""

from collections.abc import Mapping
from typing import ClassVar

import orjson
from pydantic import ValidationError

__all__ = [
    "ConfigurationError",
    "Conflict",
    "DispatchwireError",
    "DomainError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "describe_invalid",
]


class DispatchwireError(Exception):
    """Base of every error raised on purpose by dispatchwire."""


class ConfigurationError(DispatchwireError):
    """Settings that cannot work."""


class DomainError(DispatchwireError):
    """A request refused by the domain rules; `status` is its HTTP status."""

    status = 400
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def json_body(self) -> bytes:
        """The HTTP answer's body: `{"detail": "<what was wrong>"}`."""
        return orjson.dumps({"detail": self.message})


class InvalidInput(DomainError):
    status = 422


class Unauthorized(DomainError):
    status = 401
    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class TooManyRequests(DomainError):
    status = 429


class ServiceUnavailable(DomainError):
    status = 503
    # Long enough for a PostgreSQL restart or a failover; short enough that a client resumes
    # soon after.
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "5"}


def describe_invalid(exc: ValidationError) -> str:
    """Each bad field and what was wrong, without echoing values (they may be secrets)."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
