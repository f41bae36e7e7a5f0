"""New orders refused early, 503 with `Retry-After`, while the server has more than it can do.

Past its limit a server that takes every request makes every one wait: `make bench` at 1,000
orders a second, a third past what one core held, answered at p50 0.6 s and p99 2 s, and its
clients gave up. Placing an order is the request refused here: it starts new work, and its
client can place it again a moment later. Cancels, answers and status moves finish work under
way and are always taken.

The signal is measured queueing, not a count: how long fast-lane requests stay in the server,
from when their bytes were read (`ARRIVED`, stamped by `http.admission`) to their answer, on
average over each INTERVAL_S. As CoDel looks for a standing queue rather than a burst, only
STANDING intervals in a row over the target (`DISPATCHWIRE_OVERLOAD_QUEUE_MS`) make the server
overloaded: a loop stall of tens of ms, a collection, is over within one and refuses nothing.

While overloaded, a new order is refused if taking it would make the orders in the server stay
over the target: by Little's law the orders at once in the server are their rate times their
stay, so while `limit` = (orders answered per second, over the last RATE_INTERVALS) x target
or more are in it, new orders are refused the moment they come (by the HTTP protocol as soon
as their head is read, where it can: `http.fastlane.EarlyRefusals`). The orders it takes keep
the server busy and stay about the target; a refusal costs a fraction of an order. Should
requests still stay over the target (what else the server does takes its time, or a client's
connections queue behind the orders taken), the limit shrinks by target/stay each interval,
down to one order at a time, so that the server gets ahead of its queue; it is back to
rate x target once they stay under it. The overload ends after STANDING intervals in a row in
which requests stayed under the target and no order was refused.

Tried before (docs/performance.md, "The ninth pass"): a share of new orders refused that grew
and shrank by a tenth each interval lagged the queue, so the server took too many for a second,
then too few (0.73-0.80 of its most past twice its limit, p99 300-350 ms); counting cancels and
answers, which cannot be refused, in the limit did worse (0.71, p99 0.9 s).

The queue may be outside: a client or a proxy that holds a few connections queues the rest
itself. Refusing at once frees those connections for the next requests, so that queue drains.
"""

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import ClassVar

from starlette.types import Scope

from dispatchwire.errors import ServiceUnavailable
from dispatchwire.metrics import ORDERS_REFUSED_OVERLOADED

__all__ = ["ARRIVED", "Overload", "Overloaded"]

log = logging.getLogger(__name__)

ARRIVED = "dispatchwire.arrived"  # the scope's key: when the request was read (the loop's clock)
INTERVAL_S = 0.1  # stays are averaged, and the limit set, once per such interval
STANDING = 3  # intervals in a row over the target before any order is refused (not a stall)
RATE_INTERVALS = 10  # the orders answered per second: over the last second
LOG_EVERY_S = 5.0  # while overloaded, one line per this long


class Overloaded(ServiceUnavailable):
    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "1"}  # a queue drains that soon

    def __init__(self) -> None:
        super().__init__("the server is overloaded: place the order again in a moment")


class Overload:
    """Whether requests queue in the server for longer than `target_ms` (0: never refuse),
    and, while they do, how many new orders it works on at once.

    A new order asks `refuses()` first; one taken is `started()`, then `finished()` when
    answered, whatever the answer. `served()` measures the stay of every request answered."""

    def __init__(self, target_ms: float, clock: Callable[[], float] | None = None) -> None:
        self._target_s = target_ms / 1000
        self._clock = clock  # the running loop's when None
        self._stays, self._served = 0.0, 0  # the current interval's total stay, requests
        self._interval_ends = -math.inf
        self._over = 0  # intervals in a row whose mean stay was over the target
        self._calm = 0  # intervals in a row under it, with no order refused
        self.limit: float | None = None  # new orders at once while overloaded, else None
        self._last_limit = 0.0
        self.in_flight = 0  # new orders taken and not yet answered
        self._answered = 0  # new orders answered in the current interval
        self._answered_before: deque[int] = deque(maxlen=RATE_INTERVALS)  # in the ones before
        self._refused_now = 0  # in the current interval
        self._refused = 0  # since the last log line
        self._logged_at = -math.inf
        self._said = False  # that the server is overloaded, since it last was not

    def refuses(self) -> bool:
        """Whether to refuse a new order now."""
        if self.limit is None or self.in_flight < self.limit:
            return False
        self._refused_now += 1
        self._refused += 1
        ORDERS_REFUSED_OVERLOADED.inc()
        return True

    def started(self) -> None:
        """A new order was taken."""
        self.in_flight += 1

    def finished(self) -> None:
        """A new order taken was answered."""
        self.in_flight -= 1
        self._answered += 1

    def served(self, scope: Scope) -> None:
        """A request was answered: note how long it stayed in the server."""
        arrived = scope.get(ARRIVED)
        if not self._target_s or arrived is None:
            return
        now = self._now()
        if now >= self._interval_ends:
            quiet = now >= self._interval_ends + INTERVAL_S  # no queue to speak of
            self._turn(0.0 if quiet else self._stays / self._served, now, quiet=quiet)
            self._stays, self._served = 0.0, 0
            self._interval_ends = now + INTERVAL_S
        self._stays += now - arrived
        self._served += 1

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def _turn(self, stay: float, now: float, *, quiet: bool) -> None:
        """At an interval's end (`stay`: its requests' mean stay; `quiet`: it was followed by
        one with none): overloaded after STANDING intervals over the target, no longer after as
        many under it with no order refused (a lull within an overload does not end it: the
        queue would build again while it came back)."""
        if quiet:  # nor a rate: the orders answered meanwhile span an unknown while
            self._answered_before.clear()
        else:
            self._answered_before.append(self._answered)
        self._answered = 0
        refused, self._refused_now = self._refused_now, 0
        self._over = self._over + 1 if stay > self._target_s else 0
        self._calm = self._calm + 1 if not self._over and not refused else 0
        if self.limit is None:
            if self._over >= STANDING:
                self.limit = self._by_rate()
                self._say(stay, now)
        elif self._calm >= STANDING:
            self.limit = None
            if self._said:  # the end of an overload that was told
                log.info("no longer overloaded: new orders are taken again")
                self._said = False
        else:
            self.limit = self._by_rate()
            if stay > self._target_s:  # still too long: fewer at once, until it catches up
                self.limit = max(1.0, min(self.limit, self._last_limit) * self._target_s / stay)
            self._say(stay, now)
        self._last_limit = self.limit or 0.0

    def _by_rate(self) -> float:
        """How many orders at once stay the target, at the rate they were answered lately."""
        rate = sum(self._answered_before) / (max(1, len(self._answered_before)) * INTERVAL_S)
        return max(1.0, rate * self._target_s)

    def _say(self, stay: float, now: float) -> None:
        """A line at most every LOG_EVERY_S while overloaded."""
        if now - self._logged_at < LOG_EVERY_S:
            return
        log.warning("overloaded: requests stay %.0f ms in the server on average (the limit is"
                    " %.0f ms): new orders past %.0f at once are refused with 503 (%d since the"
                    " last such line)", stay * 1000, self._target_s * 1000, self.limit or 0,
                    self._refused)
        self._logged_at, self._refused, self._said = now, 0, True
