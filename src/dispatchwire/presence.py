"""Which masters hold a live, subscribed socket, and when each last pinged: here and cluster-wide.

The gateway keeps this process's part up to date, one entry per subscribed socket (a master may
hold several). With several processes, each shares a snapshot of its part through the broker
every few seconds and keeps the others' latest snapshots (`dispatchwire.cluster`), so dispatch
prefers masters with a live socket on any process, and the admin stats count every process.
"""

import asyncio
import math
import time
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

__all__ = ["ACTIVE_WINDOW", "Presence", "Subscription"]

ACTIVE_WINDOW = timedelta(seconds=90)  # `isActive`: a ping within the last 90 s, as in the seed
# Dispatch asks for the live masters on every order. The set is kept up to date as sockets
# subscribe and unsubscribe, and rebuilt at most this often for what time changes (a master
# whose last ping grows older than the active window).
LIVE_REBUILD_S = 1.0


_ACTIVE_WINDOW_S = ACTIVE_WINDOW.total_seconds()


@dataclass(slots=True)
class Subscription:
    user_id: int
    master_id: int
    # The last ping, in seconds since the epoch: the snapshot shares 10,000 of them every few
    # seconds, which as datetimes (compared, turned into numbers) held the loop ~6 ms.
    pinged: float
    subscribed: bool = True

    @property
    def last_ping(self) -> datetime:
        return datetime.fromtimestamp(self.pinged, UTC)

    def is_active(self, now: datetime) -> bool:
        return self.active_since(now.timestamp() - _ACTIVE_WINDOW_S)

    def active_since(self, since: float) -> bool:
        """Subscribed, and pinged at or after `since` (epoch seconds): the one rule of
        `isActive`, for a pass over many to work out `since` once."""
        return self.subscribed and self.pinged >= since


class Presence:
    def __init__(self) -> None:
        self._by_socket: dict[int, Subscription] = {}
        self.connections = 0  # authenticated sockets on this process
        self._users_here: dict[int, int] = {}  # user id -> its authenticated sockets here
        self._remote_users: set[int] = set()
        self._remote: list[Subscription] = []  # other processes', from their latest snapshots
        self._remote_connections = 0
        self._remote_live: set[int] = set()
        self.changed = asyncio.Event()  # a subscription came or went: worth sharing soon
        self._subscribed_here: dict[int, int] = {}  # master id -> its subscribed sockets here
        self._live: set[int] = set()
        self._live_at = -math.inf  # monotonic time `_live` was last rebuilt

    def connected(self, user_id: int) -> None:
        """A socket of `user_id` authenticated here."""
        self.connections += 1
        self._users_here[user_id] = self._users_here.get(user_id, 0) + 1

    def disconnected(self, user_id: int) -> None:
        self.connections -= 1
        if (left := self._users_here[user_id] - 1) > 0:
            self._users_here[user_id] = left
        else:
            del self._users_here[user_id]
            self.changed.set()

    def has_socket(self, user_id: int) -> bool:
        """Whether the user has an authenticated socket on any process (as last shared)."""
        return user_id in self._users_here or user_id in self._remote_users

    def subscribe(self, *, socket_id: int, user_id: int, master_id: int) -> None:
        if (old := self._by_socket.pop(socket_id, None)) is not None:
            self._forget(old.master_id)
        self._by_socket[socket_id] = Subscription(user_id, master_id, time.time())
        self._subscribed_here[master_id] = self._subscribed_here.get(master_id, 0) + 1
        self._live.add(master_id)
        self.changed.set()

    def unsubscribe(self, *, socket_id: int) -> None:
        if (sub := self._by_socket.pop(socket_id, None)) is not None:
            self._forget(sub.master_id)
            self.changed.set()

    def _forget(self, master_id: int) -> None:
        left = self._subscribed_here[master_id] - 1
        if left:
            self._subscribed_here[master_id] = left
            return
        del self._subscribed_here[master_id]
        if master_id not in self._remote_live:
            self._live.discard(master_id)

    def ping(self, *, socket_id: int) -> None:
        if (sub := self._by_socket.get(socket_id)) is not None:
            sub.pinged = time.time()

    def last_ping(self, *, socket_id: int) -> float | None:
        """When the socket last pinged, in seconds since the epoch (None: not subscribed)."""
        sub = self._by_socket.get(socket_id)
        return sub.pinged if sub else None

    def subscriptions(self) -> list[Subscription]:
        """One row per subscribed master in the cluster, with its latest ping on any socket."""
        here = self._latest_here()
        return _latest_per_master([*here, *self._remote]) if self._remote else here

    def total_connections(self) -> int:
        """Authenticated sockets in the cluster."""
        return self.connections + self._remote_connections

    def live_master_ids(self) -> AbstractSet[int]:
        """Masters with an active subscription, on this process or another (read-only)."""
        if time.monotonic() - self._live_at > LIVE_REBUILD_S:
            since = time.time() - _ACTIVE_WINDOW_S
            self._live = {s.master_id for s in self._by_socket.values()
                          if s.active_since(since)} | self._remote_live
            self._live_at = time.monotonic()
        return self._live

    def _latest_here(self) -> list[Subscription]:
        """One subscription per master subscribed here, its latest."""
        if len(self._subscribed_here) == len(self._by_socket):  # one socket each, as most have
            return list(self._by_socket.values())
        return _latest_per_master(self._by_socket.values())

    # -- sharing with the cluster ---------------------------------------------------------

    def snapshot(self) -> bytes:
        """This process's part, for the others."""
        rows = [[s.user_id, s.master_id, s.pinged, s.subscribed] for s in self._latest_here()]
        return orjson.dumps({"connections": self.connections, "subscriptions": rows,
                             "users": list(self._users_here)})

    def set_remote(self, snapshots: list[bytes]) -> None:
        """Replace what is known of the other processes by their latest snapshots."""
        remote: list[Subscription] = []
        connections = 0
        users: set[int] = set()
        for raw in snapshots:
            data = orjson.loads(raw)
            connections += int(data["connections"])
            users.update(int(user_id) for user_id in data.get("users", ()))
            remote += [Subscription(int(user_id), int(master_id), float(ping), bool(subscribed))
                       for user_id, master_id, ping, subscribed in data["subscriptions"]]
        since = time.time() - _ACTIVE_WINDOW_S
        self._remote, self._remote_connections = remote, connections
        self._remote_users = users
        self._remote_live = {s.master_id for s in remote if s.active_since(since)}
        self._live_at = -math.inf  # rebuilt at the next question


def _latest_per_master(subscriptions: Iterable[Subscription]) -> list[Subscription]:
    latest: dict[int, Subscription] = {}
    for sub in subscriptions:
        seen = latest.get(sub.master_id)
        if seen is None or sub.pinged > seen.pinged:
            latest[sub.master_id] = sub
    return list(latest.values())
