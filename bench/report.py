"""Turning a run into results: latest.json, latest.md, the printed table and the plots."""

import json
from pathlib import Path
from typing import Any

from bench.goals import evaluate_goals
from bench.summary import ROWS, summarize_run

__all__ = ["write_reports"]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ratio(a: Any, b: Any) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return f"{a / b:.2f}x"
    return "-"


def table_rows(scenarios: dict[str, Any], systems: list[str]) -> list[list[str]]:
    """One row per figure: label, each system's value, and dispatchwire/peer."""
    rows = []
    for scenario, key, label in ROWS:
        values = [scenarios.get(scenario, {}).get(system, {}).get(key) for system in systems]
        if all(value is None for value in values):
            continue
        ratio = [_ratio(values[0], values[1])] if len(values) == 2 else []
        rows.append([label, *map(_cell, values), *ratio])
    return rows


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * width for width in widths)
    fmt = [header[0].ljust(widths[0])] + [h.rjust(w) for h, w in zip(header[1:], widths[1:],
                                                                      strict=True)]
    out = ["  ".join(fmt), line]
    for row in rows:
        out.append("  ".join([row[0].ljust(widths[0])]
                             + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]))
    return "\n".join(out)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def _steps_markdown(scenarios: dict[str, Any]) -> list[str]:
    lines = []
    for scenario in ("dispatch", "delivery"):
        for system, figures in scenarios.get(scenario, {}).items():
            lines += ["", f"### {scenario}: {system}", "",
                      "| offered/s | held | p50 ms | p99 ms | max ms | receipt p50 / p99 ms | "
                      "arrived/s | lost | misrouted | server CPU % | generator CPU % | "
                      "max stall ms | max GC ms |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for s in figures["steps"]:
                receipt = (f"{_cell(s['receipt_p50_ms'])} / {_cell(s['receipt_p99_ms'])}"
                           if "receipt_p50_ms" in s else "-")
                lines.append(f"| {s['rate']:,} | {'yes' if s['held'] else 'no'} | "
                             f"{_cell(s['p50_ms'])} | {_cell(s['p99_ms'])} | "
                             f"{_cell(s['max_ms'])} | {receipt} | {_cell(s['throughput_per_s'])} | "
                             f"{s['lost']} | {s['misrouted']} | {s['server_cpu_pct']} | "
                             f"{s['generator_cpu_pct']} | {s['max_stall_ms']} | "
                             f"{_cell(s.get('gc_max_ms'))} |")
    return lines


def _settings(summary: dict[str, Any]) -> str:
    """What set this run apart: masters without acks, settings passed to the server."""
    parts = [] if (summary.get("options") or {}).get("acks", "yes") == "yes" \
        else ["masters not acking"]
    parts += [f"{name}={value}" for name, value in
              (summary.get("dispatchwire_settings") or {}).items()]
    return f" ({', '.join(parts)})" if parts else ""


def _markdown(summary: dict[str, Any], table: str) -> str:
    m = summary["machine"]
    lines = [
        "# Benchmark: dispatchwire beside the seed's Node stack", "",
        f"Run {summary['generated_at']}, {summary['duration_s']} s; dispatchwire: "
        f"{summary['dispatchwire_source']}{_settings(summary)}; "
        f"{summary['options']['masters']:,} masters; {m['cpu_model']}, {m['cores']} cores; "
        f"load before {summary['load_before']}, after {summary['load_after']}. "
        "Produced by `make bench`; docs/performance.md explains the method.", "",
        table, "", "## Goals (issue 7)", "",
    ]
    lines += [f"- {'met' if g['met'] else 'NOT met' if g['met'] is False else 'not measured'}: "
              f"{g['goal']} ({g['detail']})" for g in summary["goals"]]
    lines += ["", "## Steps", *_steps_markdown(summary["scenarios"]), "",
              "Plots: `dispatch-latency.png`, `delivery-latency.png`, `p99-vs-rate.png`.", ""]
    return "\n".join(lines)


def write_reports(results: dict[str, Any], out: Path, say: Any) -> None:
    (out / "raw" / "run.json").write_text(json.dumps(results, indent=1))
    summary = summarize_run(results)
    summary["goals"] = evaluate_goals(summary)
    systems = list(results["systems"])
    rows = table_rows(summary["scenarios"], systems)
    header = ["figure", *systems] + (["dispatchwire/peer"] if len(systems) == 2 else [])
    (out / "latest.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "latest.md").write_text(_markdown(summary, _markdown_table(header, rows)))
    say("\n" + _text_table(header, rows) + "\n")
    for goal in summary["goals"]:
        verdict = "met" if goal["met"] else "NOT met" if goal["met"] is False else "n/a"
        say(f"goal {verdict:>7}: {goal['goal']} ({goal['detail']})")
    try:
        from bench.plots import draw_plots
    except ImportError as exc:  # matplotlib missing: the figures still stand
        say(f"plots skipped: {exc}")
    else:
        draw_plots(results, out)
    say(f"\nwrote {out / 'latest.json'}, {out / 'latest.md'} and the plots")
