"""The role-specific clients: `MasterClient`, `CustomerClient` (role `client`), `AdminClient`."""

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from dispatchwire.client._client import Client
from dispatchwire.client._errors import ClientError, Replaced
from dispatchwire.client._fanout import Callback
from dispatchwire.client._models import NewOffer, Offer, OfferExpired, Order

__all__ = ["AdminClient", "CustomerClient", "MasterClient"]

log = logging.getLogger("dispatchwire.client")


async def _offers_of(events: AsyncIterator[NewOffer]) -> AsyncIterator[Offer]:
    async for event in events:
        yield event.offer


class MasterClient(Client):
    """A technician's client: starts the shift on `start()` and ends it on `close()` (unless
    `Options.manage_shift` is False), subscribes the socket to offers, and polls the pending
    offers while the socket is down."""

    role = "master"

    async def _on_start(self) -> None:
        if self.options.manage_shift:
            await self.start_shift()

    async def _on_close(self) -> None:
        # After a 4409 another app of this master holds the socket, and the shift is its own.
        if self.options.manage_shift and not isinstance(self.error, Replaced):
            try:
                await self.end_shift()
            except ClientError as exc:
                log.warning("could not end the shift: %s", exc)

    def offers(self) -> AsyncIterator[Offer]:
        """Each new offer, once, from now on (and those that came before anyone listened).
        Check `offer.seconds_left()`: a replayed offer may be past its deadline."""
        return _offers_of(self._listeners.iterate((NewOffer,)))

    def on_offer(self, callback: Callback) -> Callable[[], None]:
        """Call `callback(offer)` for each new `Offer`; returns the unsubscriber."""
        return self._listeners.add_callback(lambda event: callback(event.offer), (NewOffer,))

    def expiries(self) -> AsyncIterator[OfferExpired]:
        """Each `OfferExpired`: an offer ran out of time or was withdrawn."""
        return self._listeners.iterate((OfferExpired,))

    def on_expiry(self, callback: Callback) -> Callable[[], None]:
        """Call `callback(expired)` for each `OfferExpired`; returns the unsubscriber."""
        return self._listeners.add_callback(callback, (OfferExpired,))

    @property
    def open_offers(self) -> list[Offer]:
        """The offers handed to the application that are still open: not expired, withdrawn
        or answered through this client, and before their deadline."""
        now = datetime.now(UTC)
        return [offer for offer in self._open_offers.offers() if offer.seconds_left(now) > 0]

    async def pending(self) -> list[Offer]:
        """The master's pending offers, asked of the server (`GET /api/assignments/pending`)."""
        return await self._rest.pending()

    async def accept(self, offer: Offer | int) -> Order:
        """Accept an offer; the order, now with the client's name and phone. ApiError 409 if
        the offer is no longer pending (expired, withdrawn or taken)."""
        offer_id = offer if isinstance(offer, int) else offer.id
        self._open_offers.discard(offer_id)  # answered: a poll must not call it expired
        data = await self._rest.call("POST", f"/api/assignments/{offer_id}/accept")
        return Order.from_json(data["order"])

    async def decline(self, offer: Offer | int) -> None:
        """Decline an offer (`POST /api/assignments/{id}/reject`); the order moves on."""
        offer_id = offer if isinstance(offer, int) else offer.id
        self._open_offers.discard(offer_id)
        await self._rest.call("POST", f"/api/assignments/{offer_id}/reject")

    async def start_shift(self) -> bool:
        """Start the shift: offers come from now on. Returns `onShift`."""
        return bool((await self._rest.call("POST", "/api/masters/me/shift/start"))["onShift"])

    async def end_shift(self) -> bool:
        """End the shift; pending offers are withdrawn. Returns `onShift`."""
        return bool((await self._rest.call("POST", "/api/masters/me/shift/end"))["onShift"])


class _PlacesOrders(Client):
    async def place_order(self, appliance_type: str, problem: str, address: str, *,
                          lat: float | None = None, lon: float | None = None) -> Order:
        """Place an order (`POST /api/orders`); it is offered to a master at once."""
        body: dict[str, Any] = {"applianceType": appliance_type, "problem": problem,
                                "address": address}
        if lat is not None and lon is not None:
            body |= {"lat": lat, "lon": lon}
        return Order.from_json(await self._rest.call("POST", "/api/orders", json=body))

    async def cancel(self, order_id: int) -> Order:
        """Cancel an order that is `new` or `assigned`; ApiError 409 otherwise."""
        return await self.set_status(order_id, "cancelled")


class CustomerClient(_PlacesOrders):
    """A customer's client (role `client`): places orders and follows their status live."""

    role = "client"


class AdminClient(_PlacesOrders):
    """An admin's client: places test orders, offers orders by hand, reads socket stats."""

    role = "admin"

    async def offer_order(self, order_id: int, master_id: int) -> dict[str, Any]:
        """Offer a `new` order to a chosen master (`POST /api/admin/assignments`), withdrawing
        its current offer; the assignment."""
        body = {"orderId": order_id, "masterId": master_id}
        result: dict[str, Any] = await self._rest.call("POST", "/api/admin/assignments",
                                                       json=body)
        return result

    async def websocket_stats(self) -> dict[str, Any]:
        """`GET /api/admin/websocket/stats`: who is connected and subscribed."""
        result: dict[str, Any] = await self._rest.call("GET", "/api/admin/websocket/stats")
        return result
