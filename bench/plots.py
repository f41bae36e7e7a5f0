"""PNG plots: latency distributions per system, and p99 against the offered rate."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt
from matplotlib.ticker import NullLocator

__all__ = ["draw_plots"]

COLORS = {"dispatchwire": "tab:blue", "peer": "tab:orange"}


def _shown_step(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The highest step that held, else the last one tried."""
    held = [step for step in steps if step["held"]]
    return max(held, key=lambda step: step["rate"]) if held else (steps[-1] if steps else None)


def _latency_cdf(results: dict[str, Any], scenario: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for system, raw in results["systems"].items():
        step = _shown_step(raw.get(scenario, []))
        if not step or not step["latencies_ms"]:
            continue
        values = sorted(max(v, 0.01) for v in step["latencies_ms"])
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        verdict = "held" if step["held"] else "failed"
        ax.plot(values, fractions, color=COLORS.get(system), label=(
            f"{system}: {step['rate']:,}/s ({verdict}), p99 {step['latency']['p99_ms']} ms"))
    ax.set_xscale("log")
    ax.axhline(0.99, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("latency, ms (log)")
    ax.set_ylabel("fraction of messages")
    what = "order POST -> new_assignment" if scenario == "dispatch" else "publish -> frame"
    ax.set_title(f"{scenario}: latency at the highest rate held, else the last tried ({what})",
                 fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _p99_vs_rate(results: dict[str, Any], limit_ms: float, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, scenario, unit in ((axes[0], "dispatch", "orders/s"),
                               (axes[1], "delivery", "messages/s")):
        for system, raw in results["systems"].items():
            steps = sorted(raw.get(scenario, []), key=lambda step: step["rate"])
            points = [(s["rate"], s["latency"]["p99_ms"]) for s in steps
                      if s["latency"]["p99_ms"] is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", color=COLORS.get(system),
                        label=system)
        ax.axhline(limit_ms, color="red", linewidth=0.8, linestyle="--",
                   label=f"limit {limit_ms:g} ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        rates = sorted({s["rate"] for raw in results["systems"].values()
                        for s in raw.get(scenario, [])})
        if rates:  # the ladder's own rates as ticks, written out in full
            ax.set_xticks(rates, [f"{rate:,}" for rate in rates], fontsize=7)
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(f"offered rate, {unit} (log)")
        ax.set_ylabel("p99 latency, ms (log)")
        ax.set_title(f"{scenario}: p99 against offered rate")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_plots(results: dict[str, Any], out: Path) -> None:
    _latency_cdf(results, "dispatch", out / "dispatch-latency.png")
    _latency_cdf(results, "delivery", out / "delivery-latency.png")
    _p99_vs_rate(results, float(results["options"]["p99_limit_ms"]), out / "p99-vs-rate.png")
