"""The WebSocket protocol without I/O: parsing client frames, building server frames, limits.

Every client frame is one JSON object with a `type`. `parse` turns a frame into one of the
message classes below or raises `ProtocolError` with the `code` the client is told.
"""

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from dispatchwire.events.types import EventType

__all__ = [
    "OFFER_TYPES", "Ack", "Auth", "ClientMessage", "Close", "Location", "Ping", "ProtocolError",
    "Subscribe", "TokenBucket", "Unsubscribe", "ack_event_id", "encode", "error_frame", "parse",
]

MAX_TOKEN_LENGTH = 8192
MAX_EVENT_ID = 2**63 - 1
# Events that are offers to a master: pushed live only to sockets that want offers.
OFFER_TYPES = frozenset({EventType.NEW_ASSIGNMENT, EventType.ASSIGNMENT_EXPIRED})


class Close:
    """Close codes the gateway uses (docs/websocket-api.md#close-codes)."""

    GOING_AWAY = 1001
    POLICY = 1008  # went on flooding after `rate_limited`
    TOO_BIG = 1009
    INTERNAL = 1011
    SLOW_READER = 1013  # stopped reading: reconnect and resume
    AUTH_FAILED = 4401  # token missing, malformed, expired or revoked
    AUTH_TIMEOUT = 4408  # no `auth` in time
    REPLACED = 4409  # the user opened more sockets than allowed; the oldest goes


class ProtocolError(Exception):
    """A client frame the gateway refuses; `code` goes into the `error` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Auth:
    token: str | None
    last_event_id: int | None = None
    acks: bool = False  # the client promises to `ack` what it handles


@dataclass(frozen=True, slots=True)
class Ack:
    """"I have handled every event of mine up to and including this id"."""

    event_id: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    pass


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Location:
    """A master's position on his job, in degrees (WGS 84)."""

    lat: float
    lon: float


ClientMessage = Auth | Subscribe | Unsubscribe | Ping | Ack | Location
_BARE: dict[str, ClientMessage] = {
    "subscribe_assignments": Subscribe(), "unsubscribe_assignments": Unsubscribe(),
    "ping": Ping(),
}


def parse(text: str | bytes) -> ClientMessage:
    """The message a client frame holds; ProtocolError naming what is wrong otherwise."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_json", "a frame must be one JSON object") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_message", "a frame must be a JSON object with a `type`")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_message", "`type` is missing or not a string")
    if kind == "auth":
        return _auth(data)
    if kind == "ack":
        return Ack(_event_id(data.get("eventId"), "eventId", least=1))
    if kind == "location":
        return Location(_degrees(data.get("lat"), "lat", 90), _degrees(data.get("lon"), "lon", 180))
    if (message := _BARE.get(kind)) is not None:
        return message
    raise ProtocolError("unknown_type", f"unknown message type {kind[:64]!r}; expected one of "
                        "auth, subscribe_assignments, unsubscribe_assignments, ping, ack, location")


# An `ack` as every JSON writer the apps use spells it (no other key; JSON's own whitespace
# allowed), with an eventId of at most 18 digits: always under MAX_EVENT_ID.
_ACK = re.compile(rb'[ \t\n\r]*\{[ \t\n\r]*"type"[ \t\n\r]*:[ \t\n\r]*"ack"[ \t\n\r]*,'
                  rb'[ \t\n\r]*"eventId"[ \t\n\r]*:[ \t\n\r]*([1-9][0-9]{0,17})[ \t\n\r]*\}'
                  rb'[ \t\n\r]*')


def ack_event_id(frame: bytes) -> int | None:
    """The eventId of a frame that is a valid `ack` in its usual form, read without the JSON
    parser: a client acks every event, so this is a socket's most common frame. None for any
    other frame, which `parse` reads (and for these, `parse` gives `Ack` of the same id)."""
    match = _ACK.fullmatch(frame)
    return int(match[1]) if match else None


def _auth(data: dict[str, Any]) -> Auth:
    token = data.get("token")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        token = None  # answered with auth_error, as the seed does
    last = data.get("lastEventId")
    if last is not None:
        last = _event_id(last, "lastEventId", least=0)
    acks = data.get("acks", False)
    if not isinstance(acks, bool):
        raise ProtocolError("invalid_message", "`acks` must be true or false")
    return Auth(token, last, acks)


def _event_id(value: Any, name: str, *, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or \
            not least <= value <= MAX_EVENT_ID:
        raise ProtocolError("invalid_message", f"`{name}` must be an integer of {least} or more")
    return value


def _degrees(value: Any, name: str, limit: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or not -limit <= value <= limit:
        raise ProtocolError("invalid_message",
                            f"`{name}` must be a number of degrees from -{limit} to {limit}")
    return float(value)


def encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def error_frame(code: str, message: str) -> str:
    return encode({"type": "error", "code": code, "message": message})


class TokenBucket:
    """`rate` messages a second on average, bursts of up to `burst`; time is passed in."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, *, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
