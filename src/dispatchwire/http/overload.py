"""New orders refused early, 503 with `Retry-After`, while the server has more than it can do.

Past its limit a server that takes every request makes every one wait: `make bench` at 1,000
orders a second, a third past what one core held, answered at p50 0.6 s and p99 2 s, and its
clients gave up. Placing an order is the request refused here: it starts new work, and its
client can place it again a moment later. Cancels, answers and status moves finish work under
way and are always taken.

The signal is measured queueing, not a count: how long fast-lane requests stay in the server,
from when their bytes were read (`ARRIVED`, stamped by `http.admission`) to their answer, on
average over each INTERVAL_S. As CoDel looks for a standing queue rather than a burst, only
STANDING intervals in a row over the target (`DISPATCHWIRE_OVERLOAD_QUEUE_MS`) count: a loop
stall of tens of ms, a collection, is over within one and refuses nothing. Then the share of
new orders refused grows by SHARE_STEP each interval; once requests get through quickly again
it shrinks as fast. A refusal costs the server a small fraction of an order, so the orders it
takes keep their pace and their latency. The queue may be outside: a client or a proxy that
holds a few connections queues the rest itself; the server then sees each request stay as
long as those ahead of it on the others. (The quickest stay of each interval, CoDel's own
measure, stayed under 50 ms while a client's pool of 64 connections queued for seconds.)
"""

import asyncio
import logging
import math
import random
from collections.abc import Mapping
from typing import ClassVar

from starlette.types import Scope

from dispatchwire.errors import ServiceUnavailable
from dispatchwire.metrics import ORDERS_REFUSED_OVERLOADED

__all__ = ["ARRIVED", "Overload", "Overloaded"]

log = logging.getLogger(__name__)

ARRIVED = "dispatchwire.arrived"  # the scope's key: when the request was read (the loop's clock)
INTERVAL_S = 0.1  # the mean stay of each such interval moves the share refused
STANDING = 3  # intervals in a row over the target before any order is refused (not a stall)
SHARE_STEP, MAX_SHARE = 0.1, 0.9  # by this much each interval; some are always taken
LOG_EVERY_S = 5.0  # while overloaded, one line per this long


class Overloaded(ServiceUnavailable):
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "1"}  # a queue drains that soon

    def __init__(self) -> None:
        super().__init__("the server is overloaded: place the order again in a moment")


class Overload:
    """Whether requests queue in the server for longer than `target_ms` (0: never refuse),
    and how many new orders to refuse meanwhile."""

    def __init__(self, target_ms: float) -> None:
        self._target_s = target_ms / 1000
        self._stays, self._served = 0.0, 0  # the current interval's total stay, requests
        self._interval_ends = -math.inf
        self.share = 0.0  # of new orders refused, from 0 up to MAX_SHARE
        self._over = 0  # intervals in a row whose mean stay was over the target
        self._refused = 0  # since the last log line
        self._logged_at = -math.inf

    def refuses(self, *, sheddable: bool) -> bool:
        """Whether to refuse a request now (only ever a `sheddable` one)."""
        if not (sheddable and self.share) or random.random() >= self.share:
            return False
        self._refused += 1
        ORDERS_REFUSED_OVERLOADED.inc()
        return True

    def served(self, scope: Scope) -> None:
        """A request was answered: note how long it stayed in the server."""
        arrived = scope.get(ARRIVED)
        if not self._target_s or arrived is None:
            return
        now = asyncio.get_running_loop().time()
        if now >= self._interval_ends:
            quiet = now >= self._interval_ends + INTERVAL_S  # no queue to speak of
            self._turn(0.0 if quiet or not self._served else self._stays / self._served, now)
            self._stays, self._served = 0.0, 0
            self._interval_ends = now + INTERVAL_S
        self._stays += now - arrived
        self._served += 1

    def _turn(self, stay: float, now: float) -> None:
        """At an interval's end: refuse a larger share while requests stayed too long on
        average (`stay`) STANDING intervals in a row, a smaller one otherwise. A line at most
        every LOG_EVERY_S while it lasts."""
        self._over = self._over + 1 if stay > self._target_s else 0
        overloaded = self._over >= STANDING
        change = SHARE_STEP if overloaded else -SHARE_STEP
        self.share = round(min(MAX_SHARE, max(0.0, self.share + change)), 2)
        if overloaded and now - self._logged_at >= LOG_EVERY_S:
            log.warning("overloaded: requests stay %.0f ms in the server on average (the limit is"
                        " %.0f ms): %.0f%% of new orders are refused with 503 (%d since the last"
                        " such line)", stay * 1000, self._target_s * 1000, self.share * 100,
                        self._refused)
            self._logged_at, self._refused = now, 0
