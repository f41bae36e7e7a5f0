"""What an offer's `new_assignment` event says of it, for those who hear every event: the
gateway (whose frames make offers) and the expiry loop (when to wake)."""

from datetime import datetime, timedelta

from dispatchwire.clock import parse_time
from dispatchwire.events.types import EventType, StoredEvent

__all__ = ["first_timer_of", "offer_in", "open_offer_in"]


def offer_in(stored: StoredEvent) -> int | None:
    """The id of the offer a `new_assignment` event makes (None for other events)."""
    if stored.type != EventType.NEW_ASSIGNMENT:
        return None
    return int(stored.payload["assignment"]["id"])


def open_offer_in(stored: StoredEvent, now: datetime) -> int | None:
    """The id of the offer a `new_assignment` event makes, if its deadline is still ahead."""
    offer_id = offer_in(stored)
    if offer_id is None or _deadline(stored) <= now:
        return None
    return offer_id


def _deadline(stored: StoredEvent) -> datetime:
    """A `new_assignment` event's offer's deadline."""
    return parse_time(stored.payload["assignment"]["expiresAt"])


def first_timer_of(stored: StoredEvent, undelivered_after: timedelta | None) -> datetime | None:
    """When the offer a `new_assignment` event makes first needs the expiry loop: its deadline,
    or sooner, the moment it counts as undelivered, `undelivered_after` its making (None for
    other events). Every process runs this for every offer any process makes: the timedelta
    is made once by the caller (from float seconds it takes ~0.6 µs; this whole call ~0.55)."""
    if stored.type != EventType.NEW_ASSIGNMENT:
        return None
    deadline = _deadline(stored)
    if undelivered_after is None:
        return deadline
    undelivered = parse_time(stored.payload["assignment"]["createdAt"]) + undelivered_after
    return undelivered if undelivered < deadline else deadline
