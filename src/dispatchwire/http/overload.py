"""New orders refused early, 503 with `Retry-After`, while the server has more than it can do.

Past its limit a server that takes every request makes every one wait: `make bench` at 1,000
orders a second, a third past what one core held, answered at p50 0.6 s and p99 2 s, and its
clients gave up. Placing an order is the request refused here: it starts new work, and its
client can place it again a moment later. Cancels, answers and status moves finish work under
way and are always taken.

The signal is measured queueing, not a count: how long each fast-lane request stayed in the
server, from when its bytes were read (`ARRIVED`, stamped by `http.admission`) to its answer.
As CoDel does for packets, a standing queue, not a burst, is what counts: once even the
shortest stay of STANDING intervals of INTERVAL_S in a row is over the target
(`DISPATCHWIRE_OVERLOAD_QUEUE_MS`), the share of new orders refused grows by SHARE_STEP each
interval; once requests get through quickly again it shrinks as fast. (A loop stall of tens of
ms, a collection, is over within one interval and refuses nothing.) A refusal costs the server
a small fraction of an order, so the orders it takes keep their pace and their latency. The
queue may be outside: a client or a proxy that holds a few connections queues the rest itself,
and the server then sees each request stay as long as the few ahead of it on the others.
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
INTERVAL_S = 0.1  # the shortest stay of each such interval moves the share refused
STANDING = 2  # intervals in a row over the target before any order is refused (not a stall)
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
        self._shortest = math.inf  # the shortest stay of the current interval
        self._interval_ends = -math.inf
        self.share = 0.0  # of new orders refused, from 0 up to MAX_SHARE
        self._over = 0  # intervals in a row whose shortest stay was over the target
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
        stayed = now - arrived
        if now >= self._interval_ends:  # (after a quiet interval: no queue to speak of)
            self._turn(self._shortest if now < self._interval_ends + INTERVAL_S else math.inf,
                       now)
            self._shortest = stayed
            self._interval_ends = now + INTERVAL_S
        elif stayed < self._shortest:
            self._shortest = stayed

    def _turn(self, shortest: float, now: float) -> None:
        """At an interval's end: refuse a larger share while even its shortest stay was too
        long (an interval without requests, `inf`, was no queue), a smaller one otherwise.
        A line at most every LOG_EVERY_S while it lasts."""
        self._over = self._over + 1 if self._target_s < shortest < math.inf else 0
        overloaded = self._over >= STANDING
        change = SHARE_STEP if overloaded else -SHARE_STEP
        self.share = round(min(MAX_SHARE, max(0.0, self.share + change)), 2)
        if overloaded and now - self._logged_at >= LOG_EVERY_S:
            log.warning("overloaded: requests stay %.0f ms or more in the server (the limit is"
                        " %.0f ms): %.0f%% of new orders are refused with 503 (%d since the last"
                        " such line)", shortest * 1000, self._target_s * 1000, self.share * 100,
                        self._refused)
            self._logged_at, self._refused = now, 0
