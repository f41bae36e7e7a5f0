"""The soak's verdict and its files: soak.json (samples and books), soak.md, soak.png."""

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["evaluate_soak", "write_soak_reports"]

MAX_GROWTH = 0.05  # RSS over the last three quarters
MAX_LAG_MS = 100.0


def memory_growth(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """RSS growth from the first sample of the second quarter (warm-up done) to the last."""
    end = samples[-1]["t_s"]
    after = [s for s in samples if s["t_s"] >= end / 4]
    base, last = after[0]["rss_mib"], after[-1]["rss_mib"]
    peak = max(s["rss_mib"] for s in after)
    return {"from_mib": base, "to_mib": last, "peak_mib": peak,
            "growth": round((last - base) / base, 4) if base else None}


def evaluate_soak(results: dict[str, Any]) -> list[dict[str, Any]]:
    samples, books, log = results["samples"], results["books"], results["server_log"]
    growth = memory_growth(samples)
    lag = max(s["lag_ms"] for s in samples)
    slow = [(ms, wait) for _, ms, wait in results["lag_per_s"] if ms > MAX_LAG_MS]
    lost = {"offers not received": books["offers_not_received"],
            "event gaps": books["event_gaps"], "events twice": books["event_duplicates"],
            "resumes not recovered": books["not_recovered"],
            "orders unfinished": books["orders_unfinished"],
            "failed requests": books["http_errors"],
            "socket errors": sum(books.get("socket_errors", {}).values()),
            "server log errors": log["errors"]}
    return [
        {"goal": f"memory flat after warm-up (< {MAX_GROWTH:.0%} over the last three "
                 "quarters)", "met": growth["growth"] is not None
         and growth["growth"] < MAX_GROWTH,
         "detail": f"{growth['from_mib']} -> {growth['to_mib']} MiB "
                   f"({growth['growth']:+.1%}), peak {growth['peak_mib']} MiB"},
        {"goal": "nothing lost", "met": not any(lost.values()) and results["settled"],
         "detail": ", ".join(f"{name}: {n}" for name, n in lost.items())
                   + ("" if results["settled"] else "; did not settle")},
        {"goal": f"no event-loop lag over {MAX_LAG_MS:g} ms", "met": lag <= MAX_LAG_MS,
         "detail": f"longest {lag} ms; {len(slow)} of {len(results['lag_per_s'])} seconds "
                   f"over {MAX_LAG_MS:g} ms" + (
                       f", in which the server waited for its core (other processes had it) "
                       f"{', '.join(f'{wait:g}' for _, wait in slow[:10])} ms" if slow else "")},
    ]


def _markdown(results: dict[str, Any]) -> str:
    options, books = results["options"], results["books"]
    out = [f"# Soak, {results['generated_at']}", "",
           f"{options['minutes']:g} min, {options['masters']:,} masters ({options['churn']:.0%}"
           f" resuming every minute), {options['order_rate']:g} orders/s, retention "
           f"{options['retention_s']:g} s, offers of {options['assignment_timeout_s']:g} s. "
           f"Load before {results['load_before']}, after {results['load_after']}.", "",
           "| goal | met | |", "|---|---|---|"]
    out += [f"| {g['goal']} | {'yes' if g['met'] else 'NO'} | {g['detail']} |"
            for g in results["goals"]]
    out += ["", f"Offers made {books['offers_made']:,}, orders {books['orders_placed']:,} "
            f"({books['orders_by_status']}), resumes {books['resumes']:,}, chat messages "
            f"{books.get('chat_messages', 0):,}, positions shared "
            f"{books.get('locations_sent', 0):,}.", "",
            "| min | RSS MiB | fds | lag ms | s > 50 ms | CPU % | core wait ms | GC max ms |"
            " events | oldest s | db MiB | WAL MiB | orders | offers | live |",
            "|" + "---|" * 15]
    for s in results["samples"]:
        out.append(f"| {s['t_s'] / 60:.1f} | {s['rss_mib']} | {s['fds']} | {s['lag_ms']} | "
                   f"{s['seconds_over_50ms']} | {s['cpu_pct']} | {s['runqueue_wait_ms']} | "
                   f"{s['gc_max_ms']} | {s['event_rows']:,} | "
                   f"{s['oldest_event_s']} | {s['db_mib']} | {s['wal_mib']} | "
                   f"{s['orders']:,} | {s['offers']:,} | {s['live_masters']:,} |")
    return "\n".join(out) + "\n"


def _plots(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = results["samples"]
    minutes = [s["t_s"] / 60 for s in samples]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    panels = [("rss_mib", "server RSS, MiB", None), ("fds", "open files", None),
              ("lag_ms", "event-loop lag, ms", MAX_LAG_MS),
              ("db_mib", "database file, MiB", None), ("event_rows", "rows in events", None),
              ("cpu_pct", "server CPU, % of a core", None)]
    for ax, (key, title, limit) in zip(axes.flat, panels, strict=True):
        if key == "lag_ms":  # every second, and the GC pauses beside it
            lag = results["lag_per_s"]
            ax.plot([t / 60 for t, _, _ in lag], [wait for _, _, wait in lag], linewidth=0.6,
                    color="tab:gray", alpha=0.45, label="server waiting for its core, per s")
            ax.plot([t / 60 for t, _, _ in lag], [ms for _, ms, _ in lag], linewidth=0.7,
                    color="tab:blue", label="canary: longest lag per s")
            pauses = results["gc_pauses"]
            ax.scatter([t / 60 for t, _, _ in pauses], [ms for _, _, ms in pauses], s=8,
                       color="tab:orange", label="GC pause", zorder=3)
            ax.legend(fontsize=8)
        else:
            ax.plot(minutes, [math.nan if s[key] is None else s[key] for s in samples],
                    marker=".", color="tab:blue")
        if key == "db_mib":
            ax.plot(minutes, [s["wal_mib"] for s in samples], marker=".", color="tab:orange",
                    label="WAL")
            ax.legend(fontsize=8)
        if key == "rss_mib":
            base = memory_growth(samples)["from_mib"]
            ax.axhline(base * (1 + MAX_GROWTH), color="red", linewidth=0.8, linestyle="--",
                       label=f"+{MAX_GROWTH:.0%} over the second quarter's start")
            ax.legend(fontsize=8)
        if limit is not None:
            ax.axhline(limit, color="red", linewidth=0.8, linestyle="--")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("minutes")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    options = results["options"]
    fig.suptitle(f"soak: {options['masters']:,} masters, {options['order_rate']:g} orders/s, "
                 f"{options['churn']:.0%}/min resuming, retention {options['retention_s']:g} s",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_soak_reports(results: dict[str, Any], out: Path, say: Any) -> None:
    results["goals"] = evaluate_soak(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "soak.md").write_text(_markdown(results))
    _plots(results, out / "soak.png")
    for goal in results["goals"]:
        say(f"{'met' if goal['met'] else 'NOT MET'}: {goal['goal']}: {goal['detail']}")
    say(f"written: {out / 'soak.json'}, soak.md, soak.png")
