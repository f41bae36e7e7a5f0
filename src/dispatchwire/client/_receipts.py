"""Which of the socket's events the application has handled: the one cursor a client `ack`s.

An `ack` of id N tells the server "every event of mine up to N has been handled", so the
cursor may only pass an event once the application is done with it. Events come in `eventId`
order but are handled at the pace of their listeners, so each is held until every listener it
went to has let go of it:

- a callback (`on_event`, `on_offer`, ...): when it returns, or raises;
- an iterator (`events()`, `offers()`, ...): when it hands the event out to the `async for`;
- the `on_frame` hook: when it returns;
- kept for a listener yet to come: until one takes it.

An event no listener wants (a status update to an application that only reads `offers()`) is
not held. The cursor stops at the oldest event still held; `handled` tells when it moves, and
the socket sends one `ack` for however far it moved (a burst handled at once costs one frame).
Events found by polling carry no id and are not counted: the poll itself told the server.
"""

from collections import OrderedDict

from dispatchwire.client._state import Observable

__all__ = ["Receipts"]


class Receipts:
    """The events held by listeners, and the cursor below them."""

    def __init__(self, handled: int | None = None) -> None:
        self._held: OrderedDict[int, int] = OrderedDict()  # eventId -> holders, oldest first
        self.handled: Observable[int | None] = Observable(handled)
        """The newest `eventId` up to which every event has been handled (None: none yet)."""

    def hold(self, event_id: int | None, holders: int = 1) -> None:
        """`holders` more listeners have the event (ids come in increasing order)."""
        if event_id is None or holders <= 0:
            return
        if event_id in self._held:
            self._held[event_id] += holders
        elif self.handled.value is None or event_id > self.handled.value:
            self._held[event_id] = holders

    def release(self, event_id: int | None) -> None:
        """One listener is done with the event."""
        if event_id is None or event_id not in self._held:
            return
        self._held[event_id] -= 1
        newest = None
        while self._held and next(iter(self._held.values())) <= 0:
            newest, _ = self._held.popitem(last=False)
        if newest is not None:
            self.handled.set(newest)

    def resume_point(self) -> int | None:
        """Where a new socket resumes: after the handled events. Those still held come again
        in the replay (and are dropped as repeats): the server must not take the resume for
        a receipt of events the application has not handled."""
        if self.handled.value is not None:
            return self.handled.value
        if self._held:  # nothing handled yet: everything before the first event came earlier
            return next(iter(self._held)) - 1
        return None
