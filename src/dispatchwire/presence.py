"""Which masters hold a live, subscribed socket on this process, and when each last pinged.

The gateway keeps it up to date, one entry per subscribed socket (a master may hold several);
dispatch prefers the masters it names, and the admin stats read it, one row per master.
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
        self._by_socket: dict[int, Subscription] = {}
        self.connections = 0  # authenticated sockets on this process

    def subscribe(self, *, socket_id: int, user_id: int, master_id: int) -> None:
        self._by_socket[socket_id] = Subscription(user_id, master_id, utcnow())

    def unsubscribe(self, *, socket_id: int) -> None:
        self._by_socket.pop(socket_id, None)

    def ping(self, *, socket_id: int) -> None:
        if (sub := self._by_socket.get(socket_id)) is not None:
            sub.last_ping = utcnow()

    def last_ping(self, *, socket_id: int) -> datetime | None:
        sub = self._by_socket.get(socket_id)
        return sub.last_ping if sub else None

    def subscriptions(self) -> list[Subscription]:
        """One row per subscribed master, with the latest ping of any of its sockets."""
        latest: dict[int, Subscription] = {}
        for sub in self._by_socket.values():
            seen = latest.get(sub.master_id)
            if seen is None or sub.last_ping > seen.last_ping:
                latest[sub.master_id] = sub
        return list(latest.values())

    def live_master_ids(self) -> set[int]:
        """Masters with an active subscription now."""
        now = utcnow()
        return {sub.master_id for sub in self._by_socket.values() if sub.is_active(now)}
