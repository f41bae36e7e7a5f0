"""Metrics counted in plain Python numbers and read by Prometheus at each scrape.

prometheus_client's `inc()` and `observe()` take a lock and check their metric on every call,
which is what a metric touched by many threads needs. The gateway counts every frame in and out
and times every event's frame, from the event loop's thread alone: three such calls a message
were ~7% of the loop's time in the delivery benchmark (cProfile, docs/performance.md). A tally
counts with `+=` and hands prometheus_client its totals when `/metrics` is read, as the same
metric family a `Counter` or a `Histogram` would have made (without their `_created` samples).
Only the loop's thread may count; a scrape may come from any thread, and reads a copy.
"""

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

__all__ = ["HistogramTally", "LabelTally"]


class LabelTally(Collector):
    """A counter with one label: `name_total{label="..."}`."""

    def __init__(self, name: str, documentation: str, label: str,
                 registry: CollectorRegistry = REGISTRY) -> None:
        self._name, self._documentation, self._label = name, documentation, label
        self.counts: dict[str, int] = {}
        registry.register(self)

    def inc(self, value: str) -> None:
        self.counts[value] = self.counts.get(value, 0) + 1

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for value, count in self.counts.copy().items():
            family.add_metric([value], count)
        return [family]

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(self._name, self._documentation, labels=[self._label])]


class HistogramTally(Collector):
    """A histogram without labels; a value on a bucket's bound counts in that bucket (`le`)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float],
                 registry: CollectorRegistry = REGISTRY) -> None:
        self._name, self._documentation = name, documentation
        self._bounds = tuple(sorted(float(bound) for bound in buckets))
        self._counts = [0] * (len(self._bounds) + 1)  # the last: above every bound (+Inf)
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def collect(self) -> Iterable[Metric]:
        counts, total = self._counts.copy(), self._sum
        cumulative, running = [], 0
        for bound, count in zip((*self._bounds, math.inf), counts, strict=True):
            running += count
            cumulative.append((floatToGoString(bound), running))
        return [HistogramMetricFamily(self._name, self._documentation, buckets=cumulative,
                                      sum_value=total)]

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self._name, self._documentation)]
