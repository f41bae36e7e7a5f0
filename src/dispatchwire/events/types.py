"""What an event is, before and after it is stored."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["CLOSE_SOCKETS", "EventType", "PendingEvent", "StoredEvent"]


class EventType(StrEnum):
    """The stored events a user's socket receives (docs/websocket-api.md)."""

    NEW_ASSIGNMENT = "new_assignment"
    ASSIGNMENT_EXPIRED = "assignment_expired"
    ORDER_STATUS_UPDATE = "order_status_update"
    CHAT_MESSAGE = "chat_message"
    ORDER_NEEDS_ATTENTION = "order_needs_attention"  # to every admin: an order needs a human


# A message on the broker that is no event: never stored, never sent, `event_id` 0. Every
# process's gateway closes the user's sockets (the user was deactivated).
CLOSE_SOCKETS = "close_sockets"


@dataclass(slots=True)
class PendingEvent:
    """An event for one user, emitted during a transaction; `event_id` is set when it is
    numbered, just before the commit."""

    user_id: int
    type: str
    payload: dict[str, Any]
    event_id: int | None = None

    def to_message(self) -> dict[str, Any]:
        """The wire message, once numbered."""
        return {"type": self.type, "eventId": self.event_id, **self.payload}


@dataclass(slots=True)
class StoredEvent:
    """An event as stored: `event_id` increases per user, without gaps. Treated as a value
    (no one changes one), but not frozen: every process makes one for every event of the
    cluster it hears, and a frozen dataclass's `__init__` sets each field through
    `object.__setattr__` (decoding one from the broker: 1.23 µs frozen, 0.73 plain)."""

    user_id: int
    event_id: int
    type: str
    payload: dict[str, Any]
    created_at: datetime

    def to_message(self) -> dict[str, Any]:
        """The wire message: `{"type": ..., "eventId": ..., **payload}`."""
        return {"type": self.type, "eventId": self.event_id, **self.payload}
