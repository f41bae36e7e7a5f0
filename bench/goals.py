"""Issue 7's goals, checked against a run's figures (reported, never enforced)."""

from typing import Any

__all__ = ["evaluate_goals"]


def _goal(goal: str, met: bool | None, detail: str) -> dict[str, Any]:
    return {"goal": goal, "met": met, "detail": detail}


def evaluate_goals(summary: dict[str, Any]) -> list[dict[str, Any]]:
    scenarios = summary["scenarios"]
    n = summary["options"]["masters"]
    at_n = "" if n == 10_000 else f"; measured at N = {n:,}, not 10,000"
    dw = {name: figures.get("dispatchwire") for name, figures in scenarios.items()}
    peer = {name: figures.get("peer") for name, figures in scenarios.items()}
    goals = []

    dispatch = dw.get("dispatch")
    if dispatch:
        good = [s for s in dispatch["steps"] if s["rate"] >= 1000 and s["held"]
                and s["p99_ms"] is not None and s["p99_ms"] <= 25]
        detail = (f"held {dispatch['rate_per_s']:,}/s at p99 {dispatch['p99_ms']} ms, "
                  f"{dispatch['lost']} lost" if dispatch["held_any"]
                  else f"no step held; at most {dispatch['saturation_per_s']} offers/s")
        goals.append(_goal("1,000 orders/s end to end, p99 <= 25 ms, nothing lost",
                           bool(good), detail + at_n))
        if peer.get("dispatch"):
            mine, theirs = dispatch["rate_per_s"], peer["dispatch"]["rate_per_s"]
            goals.append(_goal("a sustainable order rate at least the Node peer's",
                               mine >= theirs, f"{mine:,}/s against {theirs:,}/s" + at_n))
    memory = dw.get("memory")
    if memory:
        kib = memory["kib_per_connection"]
        goals.append(_goal("<= 12 KiB per idle subscribed connection, no compression",
                           kib <= 12, f"{kib} KiB" + at_n))
    if dw.get("delivery") and peer.get("delivery"):
        mine, theirs = dw["delivery"]["rate_per_s"], peer["delivery"]["rate_per_s"]
        goals.append(_goal("delivery ceiling >= 0.7x Node ws", mine >= 0.7 * theirs,
                           f"{mine:,}/s against {theirs:,}/s: "
                           f"{mine / theirs if theirs else 0:.2f}x" + at_n))
    storm = dw.get("connect_storm")
    if storm:
        seconds, stall = storm["resubscribed_s"], storm["max_stall_ms"]
        met = seconds is not None and seconds <= 10 and stall <= 100 and storm["lost"] == 0
        goals.append(_goal("reconnects resubscribed in <= 10 s, no stall over 100 ms, none lost",
                           met, f"{seconds} s, longest stall {stall} ms, {storm['lost']} lost"
                           + at_n))
    return goals
