"""Latency summaries."""

import math

__all__ = ["percentile", "summarize"]


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest-rank."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarize(latencies_s: list[float]) -> dict[str, float | int | None]:
    """p50, p99 and max in milliseconds (None when there is nothing to summarize)."""
    ordered = sorted(latencies_s)
    if not ordered:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"count": len(ordered), "p50_ms": round(percentile(ordered, 0.5) * 1000, 2),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}
