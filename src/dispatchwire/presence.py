"""Which masters hold a live, subscribed socket on this process, and when each last pinged.

The gateway keeps it up to date; dispatch prefers the masters it names, and the admin stats
read it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatchwire.clock import utcnow

__all__ = ["ACTIVE_WINDOW", "Presence", "Subscription"]

ACTIVE_WINDOW = timedelta(seconds=90)  # `isActive`: a ping within the last 90 s, as in the seed


@dataclass(slots=True)
class Subscription:
    user_id: int
    master_id: int
    last_ping: datetime
    subscribed: bool = True

    def is_active(self, now: datetime) -> bool:
        return self.subscribed and now - self.last_ping <= ACTIVE_WINDOW


class Presence:
    def __init__(self) -> None:
        self._by_master: dict[int, Subscription] = {}
        self.connections = 0  # authenticated sockets on this process


    def subscribe(self, *, user_id: int, master_id: int) -> None:
        self._by_master[master_id] = Subscription(user_id, master_id, utcnow())

    def unsubscribe(self, *, master_id: int) -> None:
        self._by_master.pop(master_id, None)

    def ping(self, *, master_id: int) -> None:
        if (sub := self._by_master.get(master_id)) is not None:
            sub.last_ping = utcnow()

    def subscriptions(self) -> list[Subscription]:
        return list(self._by_master.values())

    def live_master_ids(self) -> set[int]:
        """Masters whose subscription is active now."""
        now = utcnow()
        return {m for m, sub in self._by_master.items() if sub.is_active(now)}
