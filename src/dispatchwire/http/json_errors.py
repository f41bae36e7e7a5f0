"""Every error the HTTP side writes is JSON, `{"detail": ...}`, with the right status.

FastAPI answers its own refusals (unknown path 404, wrong method 405, a body that does not
validate 422) in JSON. What it and the layers under it would write otherwise, and what this
module does instead:

- a body over the limit: Starlette's limit writes `Content Too Large` as text. `JsonErrors`
  keeps the limit itself and answers 413 in JSON, on every route (the fast lane passes such
  bodies on to it);
- the database out of reach (PostgreSQL down or restarting, SQLite's disk full): a 500 with
  a trace in the log. `JsonErrors` (and the fast lane, in front of it, for its own routes)
  answers 503 with `Retry-After` (see `outage`), logged by one `OutageLog`;
- anything unexpected: Starlette's text 500. `internal_error` answers JSON, without the
  trace (it stays in the log);
- a request the HTTP parser refuses: uvicorn's text 400 (`raw_response` serves
  `gateway.admission`); a refused WebSocket handshake: websockets' text (`json_refusal`
  serves `gateway.server`).
"""

import logging
import time
from collections.abc import Iterable

import orjson
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.http11 import Response as HandshakeResponse

from dispatchwire.errors import DomainError
from dispatchwire.http.errors import log_refusal
from dispatchwire.store.outage import as_unavailable

__all__ = ["BodyTooLarge", "JsonErrors", "OutageLog", "content_length", "json_refusal",
           "raw_response"]

log = logging.getLogger(__name__)

_JSON = (b"content-type", b"application/json")
OUTAGE_LOG_EVERY_S = 5.0  # one warning per this long while the database stays away


class BodyTooLarge(HTTPException):
    """The request's body is over the limit. An HTTPException, so that FastAPI, reading a
    body for a route, passes it on as it is rather than as "error parsing the body"."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes")


class OutageLog:
    """A line naming the database's error, at most every few seconds of an outage."""

    def __init__(self) -> None:
        self._warned_at = -OUTAGE_LOG_EVERY_S
        self._unwarned = 0  # outage refusals since the last warning

    def warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at < OUTAGE_LOG_EVERY_S:
            self._unwarned += 1
            return
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        log.warning("the database is unavailable (%s: %s): requests that need it are answered "
                    "503%s", type(cause).__name__, str(cause)[:200].replace("\n", " "),
                    f" ({self._unwarned} more since the last such line)" if self._unwarned
                    else "")
        self._warned_at, self._unwarned = now, 0


class JsonErrors:
    """ASGI middleware around FastAPI's routes (the fast lane stands in front of it): the body
    limit, and database outages as 503."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int,
                 outages: OutageLog | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._outages = outages or OutageLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = content_length(scope)
        if declared is not None and declared > limit:  # refused before reading any of it
            await _answer(scope, send, BodyTooLarge(limit))
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except Exception as exc:
            refusal = exc if isinstance(exc, BodyTooLarge) else as_unavailable(exc)
            if refusal is None or started:
                raise
            if refusal is not exc:
                self._outages.warn(exc)
            await _answer(scope, send, refusal)


async def _answer(scope: Scope, send: Send, exc: HTTPException | DomainError) -> None:
    status, detail, headers = ((exc.status_code, exc.detail, exc.headers or {})
                               if isinstance(exc, HTTPException)
                               else (exc.status, exc.message, exc.headers))
    log_refusal(scope["method"], scope["path"], status, detail)
    body = orjson.dumps({"detail": detail})
    raw = [(b"content-length", str(len(body)).encode()), _JSON]
    raw += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def raw_response(status: int, reason: str, detail: str,
                 headers: Iterable[tuple[bytes, bytes]] = ()) -> bytes:
    """A whole HTTP/1.1 response that closes the connection, for the protocol layer."""
    body = orjson.dumps({"detail": detail})
    lines = [f"HTTP/1.1 {status} {reason}".encode(), *(n + b": " + v for n, v in headers),
             b"content-type: application/json", b"content-length: " + str(len(body)).encode(),
             b"connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def json_refusal(response: HandshakeResponse) -> HandshakeResponse:
    """A refused WebSocket handshake's answer with its text as a JSON `detail`."""
    detail = response.body.decode(errors="replace").strip() or response.reason_phrase
    body = orjson.dumps({"detail": detail})
    headers = response.headers.copy()
    for name in ("Content-Type", "Content-Length"):
        if name in headers:
            del headers[name]
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body))
    return HandshakeResponse(response.status_code, response.reason_phrase, headers, body)
