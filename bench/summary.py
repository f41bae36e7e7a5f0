"""The figures per scenario and system, drawn from a run's raw steps (latest.json's body)."""

from typing import Any

__all__ = ["ROWS", "summarize_run"]

# (scenario, key, label) of each row of the side-by-side table.
ROWS: list[tuple[str, str, str]] = [
    ("dispatch", "rate_per_s", "dispatch: highest rate held, orders/s"),
    ("dispatch", "p50_ms", "dispatch: p50 at that rate (none held: last step), ms"),
    ("dispatch", "p99_ms", "dispatch: p99 at that rate (none held: last step), ms"),
    ("dispatch", "max_ms", "dispatch: max at that rate (none held: last step), ms"),
    ("dispatch", "receipt_p50_ms", "dispatch: delivery receipt (POST -> ack sent) p50 there, ms"),
    ("dispatch", "receipt_p99_ms", "dispatch: delivery receipt (POST -> ack sent) p99 there, ms"),
    ("dispatch", "server_receipts", "dispatch: receipts the server recorded before the cancel"),
    ("dispatch", "lost", "dispatch: offers lost (whole ladder)"),
    ("dispatch", "misrouted", "dispatch: offers misrouted (whole ladder)"),
    ("dispatch", "saturation_per_s", "dispatch: most offers/s delivered (any step)"),
    ("dispatch", "server_cpu_pct", "dispatch: server CPU at that rate, %"),
    ("dispatch", "server_rss_mib", "dispatch: server RSS, MiB"),
    ("dispatch", "max_stall_ms", "dispatch: longest loop stall at that rate, ms"),
    ("dispatch", "gc_max_ms", "dispatch: longest GC pause at that rate, ms"),
    ("dispatch", "generator_cpu_pct", "dispatch: generator CPU, top step, %"),
    ("dispatch", "host_probe_ms", "dispatch: host probe on the server's core there, ms"),
    ("dispatch", "past_limit_rate_per_s", "dispatch past the limit: orders/s (twice the most)"),
    ("dispatch", "past_limit_per_s", "dispatch past the limit: offers/s delivered"),
    ("dispatch", "past_limit_share", "dispatch past the limit: share of the most (goal >= 0.9)"),
    ("dispatch", "past_limit_p99_ms", "dispatch past the limit: p99 of orders taken, ms"),
    ("dispatch", "past_limit_refused", "dispatch past the limit: refused early (503)"),
    ("dispatch", "past_limit_gave_up", "dispatch past the limit: generator gave up (2 s waits)"),
    ("fanout", "rate_per_s", "fan-out (K offers an order): highest rate held, orders/s"),
    ("fanout", "p99_ms", "fan-out: p99 at that rate (none held: last step), ms"),
    ("fanout", "saturation_per_s", "fan-out: most orders/s offered (any step)"),
    ("fanout", "server_cpu_pct", "fan-out: server CPU at that rate, %"),
    ("memory", "kib_per_connection", "memory: KiB per subscribed connection"),
    ("memory", "rss_idle_mib", "memory: server RSS idle, MiB"),
    ("memory", "rss_connected_mib", "memory: server RSS with N subscribed, MiB"),
    ("memory", "connect_s", "memory: N masters connected and subscribed in, s"),
    ("connect_storm", "subscribed", "storm: masters resubscribed within the timeout"),
    ("connect_storm", "resubscribed_s", "storm: all resubscribed after restart, s"),
    ("connect_storm", "from_sigterm_s", "storm: all resubscribed after SIGTERM, s"),
    ("connect_storm", "max_stall_ms", "storm: longest loop stall, ms"),
    ("connect_storm", "gc_max_ms", "storm: longest GC pause, ms"),
    ("connect_storm", "lost", "storm: offers lost"),
    ("connect_storm", "server_cpu_pct", "storm: server CPU while reconnecting, %"),
    ("delivery", "rate_per_s", "delivery: ceiling, messages/s"),
    ("delivery", "p50_ms", "delivery: p50 at the ceiling (none held: last step), ms"),
    ("delivery", "p99_ms", "delivery: p99 at the ceiling (none held: last step), ms"),
    ("delivery", "max_ms", "delivery: max at the ceiling (none held: last step), ms"),
    ("delivery", "lost", "delivery: messages lost (whole ladder)"),
    ("delivery", "lost_on_cut_off", "delivery: lost on sockets that closed (slow readers)"),
    ("delivery", "server_cpu_pct", "delivery: server CPU at the ceiling, %"),
    ("delivery", "max_stall_ms", "delivery: longest loop stall at the ceiling, ms"),
    ("delivery", "gc_max_ms", "delivery: longest GC pause at the ceiling, ms"),
    ("delivery", "generator_cpu_pct", "delivery: generator CPU, top step, %"),
    ("delivery", "host_probe_ms", "delivery: host probe on the server's core there, ms"),
]

STEP_KEYS = ("rate", "held", "gave_up", "sent", "placed", "offers", "lost", "misrouted",
             "duplicates", "throughput_per_s", "server_cpu_pct", "server_rss_mib",
             "generator_cpu_pct", "max_stall_ms", "gc_max_ms", "gc_full", "gc_by_generation",
             "http_errors", "refused", "cancel_errors", "dropped", "host_probe_ms",
             "lost_on_cut_off", "cut_off_sockets")


def _step(raw: dict[str, Any]) -> dict[str, Any]:
    step = {key: raw[key] for key in STEP_KEYS if key in raw}
    step.update({key: raw["latency"].get(key) for key in ("p50_ms", "p99_ms", "max_ms")})
    receipt, server = raw.get("receipt") or {}, raw.get("server_receipt") or {}
    if receipt.get("count"):  # dispatchwire's masters ack; the peer's do not
        step.update(receipt_p50_ms=receipt["p50_ms"], receipt_p99_ms=receipt["p99_ms"],
                    receipt_max_ms=receipt["max_ms"], receipts=receipt["count"])
    if server.get("count") is not None:
        step.update(server_receipts=server["count"],
                    server_receipt_p50_le_ms=server["p50_le_ms"],
                    server_receipt_p99_le_ms=server["p99_le_ms"])
    return step


def _ladder(raw_steps: list[dict[str, Any]], memory: dict[str, Any]) -> dict[str, Any]:
    """A ladder's figures: those of the highest step that held, and totals over all steps."""
    steps = [_step(raw) for raw in raw_steps]
    held = [step for step in steps if step["held"]]
    top = max(held, key=lambda step: step["rate"]) if held else None
    shown = top or (steps[-1] if steps else {})
    return {
        "connections": memory.get("connections"),
        "rate_per_s": top["rate"] if top else 0,
        "p50_ms": shown.get("p50_ms"), "p99_ms": shown.get("p99_ms"),
        "max_ms": shown.get("max_ms"),
        "receipt_p50_ms": shown.get("receipt_p50_ms"),
        "receipt_p99_ms": shown.get("receipt_p99_ms"),
        "server_receipts": sum(step.get("server_receipts") or 0 for step in steps)
        if any("server_receipts" in step for step in steps) else None,
        "lost": sum(step["lost"] for step in steps),
        "lost_on_cut_off": sum(step.get("lost_on_cut_off", 0) for step in steps),
        "misrouted": sum(step["misrouted"] for step in steps),
        "saturation_per_s": max((step["throughput_per_s"] for step in steps), default=None),
        "kib_per_connection": memory.get("kib_per_connection"),
        "server_cpu_pct": shown.get("server_cpu_pct"),
        "server_rss_mib": shown.get("server_rss_mib"),
        "max_stall_ms": shown.get("max_stall_ms"),
        "gc_max_ms": shown.get("gc_max_ms"),
        # bench/hostspeed.py: a fixed piece of work timed all through the step (more: a slower host)
        "host_probe_ms": (shown.get("host_probe_ms") or {}).get("server_core"),
        "generator_cpu_pct": max((step["generator_cpu_pct"] for step in steps), default=None),
        "held_any": top is not None,
        "steps": steps,
    }


def _past_limit(raw: dict[str, Any], ladder: dict[str, Any]) -> dict[str, Any]:
    """The step at twice the most offers/s: what is still completed, how fast, what refused."""
    step = _step(raw)
    saturation = ladder.get("saturation_per_s")
    return {"past_limit_rate_per_s": step["rate"], "past_limit_per_s": step["throughput_per_s"],
            "past_limit_share": round(step["throughput_per_s"] / saturation, 2)
            if saturation else None,
            "past_limit_p99_ms": step["p99_ms"], "past_limit_refused": step.get("refused", 0),
            "past_limit_gave_up": step["gave_up"], "past_limit_step": step}


def _storm(raw: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    """The storm's figures; p50/p99/max are each master's time to resubscribe, from ready."""
    per_master = raw.get("per_master_ms", {})
    return {"kib_per_connection": memory.get("kib_per_connection"), **raw,
            "p50_ms": per_master.get("p50_ms"), "p99_ms": per_master.get("p99_ms"),
            "max_ms": per_master.get("max_ms"),
            "rate_per_s": round(raw["connections"] / raw["resubscribed_s"], 1)
            if raw.get("resubscribed_s") else None}


def summarize_run(results: dict[str, Any]) -> dict[str, Any]:
    scenarios: dict[str, dict[str, Any]] = {}
    for system, raw in results["systems"].items():
        memory = raw.get("memory", {})
        scenarios.setdefault("memory", {})[system] = memory
        if "dispatch" in raw:
            ladder = _ladder(raw["dispatch"], memory)
            if "dispatch_past_limit" in raw:
                ladder.update(_past_limit(raw["dispatch_past_limit"], ladder))
            scenarios.setdefault("dispatch", {})[system] = ladder
        if "fanout" in raw:  # dispatchwire's alone: the peer has no fan-out
            scenarios.setdefault("fanout", {})[system] = _ladder(raw["fanout"], memory)
        if "storm" in raw:
            scenarios.setdefault("connect_storm", {})[system] = _storm(raw["storm"], memory)
        if "delivery" in raw:
            delivery = _ladder(raw["delivery"], memory)
            delivery["reconnect_s"] = raw.get("delivery_reconnect_s")
            scenarios.setdefault("delivery", {})[system] = delivery
    keys = ("generated_at", "duration_s", "dispatchwire_source", "machine", "load_before",
            "load_after", "generator_pinned", "options", "dispatchwire_settings")
    return {**{key: results.get(key) for key in keys}, "scenarios": scenarios,
            "run_s": {system: raw.get("run_s") for system, raw in results["systems"].items()}}
