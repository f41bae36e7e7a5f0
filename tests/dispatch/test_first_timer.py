"""The moment an offer heard from any process first needs the expiry loop: its deadline, or
sooner, when it counts as undelivered; nothing for other events."""

from datetime import UTC, datetime, timedelta

from dispatchwire.clock import isoformat
from dispatchwire.dispatch.offer_events import first_timer_of
from dispatchwire.events.types import StoredEvent

MADE = datetime(2026, 12, 7, 4, 0, 0, 123000, tzinfo=UTC)
DEADLINE = MADE + timedelta(seconds=300)


def offer_event(type_: str = "new_assignment") -> StoredEvent:
    payload = {"assignment": {"id": 5, "orderId": 3, "createdAt": isoformat(MADE),
                              "expiresAt": isoformat(DEADLINE)}}
    return StoredEvent(1, 2, type_, payload, MADE)


def test_the_undelivered_timeout_comes_first_when_it_is_shorter() -> None:
    assert first_timer_of(offer_event(), timedelta(seconds=30)) == MADE + timedelta(seconds=30)


def test_the_deadline_comes_first_when_the_timeout_is_longer_or_off() -> None:
    assert first_timer_of(offer_event(), timedelta(seconds=301)) == DEADLINE
    assert first_timer_of(offer_event(), None) == DEADLINE


def test_other_events_need_no_timer() -> None:
    assert first_timer_of(offer_event("assignment_expired"), timedelta(seconds=30)) is None
