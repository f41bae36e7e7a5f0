"""Receipts that came and wait for their window's transaction, and a way to store them now.

The gateway stores the receipts of acks and pongs a window at a time (`gateway.receipts`):
a transaction per receipt took a third of a core at 2,000 acks a second. An answer to an offer,
or a poll that returns it, records the offer delivered by itself when nothing did before. So
that the app's receipt is the one kept, they first `settle` the offers they are about to
record: any receipt of them still waiting is stored at once, and they wait for it.
"""

from collections.abc import Awaitable, Callable, Collection

__all__ = ["DueReceipts"]

Settle = Callable[[Collection[int]], Awaitable[bool]]


class DueReceipts:
    """Where the gateway's receipts can be asked to settle (nothing waits without a gateway)."""

    def __init__(self) -> None:
        self._settle: Settle | None = None

    def kept_by(self, settle: Settle) -> None:
        """The gateway's receipts: `settle` stores those of the given offers that wait."""
        self._settle = settle

    async def settle(self, offer_ids: Collection[int]) -> bool:
        """Store now what waits of these offers' receipts, and wait until it is stored; True
        if any was waiting or being stored."""
        if self._settle is None or not offer_ids:
            return False
        return await self._settle(offer_ids)
