"""Which events the application has already been handed, whatever way they came.

Socket frames carry per-user `eventId`s that only grow, so a cursor (the newest id seen)
drops the repeats of a reconnect. Polling finds the same things without ids, so each event
is also remembered by what it says: an offer by its id, an expiry by the offer's id, a status
by its order. An event found by a poll suppresses its later socket or replay copy, and the
other way round. Memory is bounded: the oldest entries are forgotten first.
"""

from collections import OrderedDict
from typing import Generic, TypeVar

from dispatchwire.client._models import Event, NewOffer, OfferExpired, StatusUpdate

__all__ = ["Dedup"]

K = TypeVar("K")
V = TypeVar("V")

# The order statuses move through, forward only; a status at or below the one the
# application already has for an order is old news (a poll saw `completed` before the
# replay brought `in_progress`).
_RANK = {"new": 0, "assigned": 1, "in_progress": 2, "completed": 3, "cancelled": 3}


class _Bounded(Generic[K, V]):
    """A dict that forgets its oldest entries beyond `size`."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._size = size

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


class Dedup:
    """Decides, event by event, whether the application has seen it already."""

    def __init__(self, last_event_id: int | None = None, *, memory: int = 4096) -> None:
        self.cursor = last_event_id
        self._offers: _Bounded[int, bool] = _Bounded(memory)
        self._expired: _Bounded[int, bool] = _Bounded(memory)
        self._statuses: _Bounded[int, str] = _Bounded(memory)

    def new_frame(self, event_id: int) -> bool:
        """Whether a socket frame is past the cursor; moves the cursor when it is."""
        if self.cursor is not None and event_id <= self.cursor:
            return False
        self.cursor = event_id
        return True

    def admit(self, event: Event) -> bool:
        """Whether the application has not had this event yet; remembers it when not."""
        if isinstance(event, NewOffer):
            key = event.offer.id
            if key in self._offers or key in self._expired:
                return False
            self._offers.put(key, True)
        elif isinstance(event, OfferExpired):
            if event.assignment_id in self._expired:
                return False
            self._expired.put(event.assignment_id, True)
        else:
            return self._admit_status(event)
        return True

    def _admit_status(self, event: StatusUpdate) -> bool:
        known = self._statuses.get(event.order_id)
        if known is not None and not _moves_on(known, event.status):
            return False
        self._statuses.put(event.order_id, event.status)
        return True

    def status_of(self, order_id: int) -> str | None:
        """The last status of an order the application was told, if remembered."""
        return self._statuses.get(order_id)


def _moves_on(known: str, status: str) -> bool:
    if status == known:
        return False
    if known in _RANK and status in _RANK:
        return _RANK[status] > _RANK[known]
    return True  # a status this SDK does not know: let the application judge
