"""What a poll of the REST API means as events: a diff of snapshots, with no I/O.

The socket's events say what changed; a poll only says how things are now. These functions
turn a snapshot into the events the socket would have sent, given what the application has
already been told.
"""

from dataclasses import dataclass, field

from dispatchwire.client._models import Event, NewOffer, Offer, OfferExpired, Order, StatusUpdate

__all__ = ["OpenOffers", "offer_events", "status_events"]


@dataclass
class OpenOffers:
    """The offers handed to the application and not yet expired, withdrawn or answered, each
    with the sequence number of its delivery (to tell what a poll could have seen)."""

    by_id: dict[int, tuple[Offer, int]] = field(default_factory=dict)

    def add(self, offer: Offer, seq: int) -> None:
        self.by_id[offer.id] = (offer, seq)

    def discard(self, offer_id: int) -> None:
        self.by_id.pop(offer_id, None)

    def offers(self) -> list[Offer]:
        return [offer for offer, _ in self.by_id.values()]


def offer_events(pending: list[Offer], open_offers: OpenOffers, *,
                 polled_after: int) -> list[Event]:
    """New offers in `pending`, and expiries of open offers it no longer lists.

    Only offers delivered before the poll was sent (sequence number below `polled_after`)
    can be judged gone: one pushed on the socket while the request was on its way may simply
    be newer than the answer.
    """
    listed = {offer.id for offer in pending}
    events: list[Event] = [NewOffer(offer, source="poll") for offer in pending]
    events += [OfferExpired(offer_id, source="poll")
               for offer_id, (_, seq) in open_offers.by_id.items()
               if offer_id not in listed and seq < polled_after]
    return events


def status_events(orders: list[Order], known: dict[int, str], *, user_id: int,
                  master_id: int | None) -> list[StatusUpdate]:
    """A status update for each of the user's orders whose status differs from `known` (and
    updates `known`). An order not seen before counts as `new`: placing an order sends no
    event, and neither does the poll."""
    events = []
    for order in orders:
        if order.client_id != user_id and (master_id is None or order.master_id != master_id):
            continue  # an admin sees every order, but is told only about the ones it placed
        if order.status != known.get(order.id, "new"):
            events.append(StatusUpdate(order.id, order.status, source="poll"))
        known[order.id] = order.status
    return events
