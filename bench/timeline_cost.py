"""`python -m bench.timeline_cost`: what the timeline costs an order, told apart from the host.

A bench step cannot tell 4% from 6%: this host's speed swings by more than that from one
second to the next, and between two runs by up to 2x. cProfile can share out one run's time,
but it inflates Python far more than SQLite and the kernel, where a timeline row costs most (a
row's insert, and the pages its table and index add to every commit). So this measures the
server itself: one dispatch step of `make bench` (dispatchwire alone, at `--rate` orders/s
for `--seconds`, every order acked and cancelled as in the scenario), while the server's
timeline is switched off and on every `--slot-s` seconds, ABBA (bench.server_probe,
BENCH_TIMELINE_TOGGLE: its two writers, `timeline.record` and `timeline.insert_sent`, do
nothing while off). Each slot gives the server's CPU (its threads' run time, /proc schedstat)
over the orders placed in it; a block of `--block` slots of each kind gives the mean of each
and their difference. Reported: the medians over the blocks of CPU per order with and without
the timeline, of the difference (and its quartiles), and the difference's share of an order.
Results: bench/results/timeline_cost.json.
"""

import argparse
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.options import RESULTS
from bench.procs import load_average, machine_facts
from bench.seed import PEER_DIR, REPO

WARM_UP_S = 5.0  # after the masters have subscribed: the step's first orders, caches


def start_bench(options: argparse.Namespace, out: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "bench", "--systems", "dispatchwire", "--scenarios",
               "dispatch", "--rates", str(options.rate), "--step-s", str(options.seconds),
               "--refine", "0", "--masters", str(options.masters), "--wait-quiet-s", "60",
               "--out", str(out), *(["--ref", options.ref] if options.ref else [])]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "BENCH_TIMELINE_TOGGLE": "1"})


def server_of(bench: subprocess.Popen[str]) -> tuple[int, str]:
    """The server's pid and database file, once its masters have subscribed."""
    pid = None
    assert bench.stdout is not None
    for line in bench.stdout:
        print(line, end="", flush=True)
        if pid is None and (found := re.search(r"dispatchwire: ready .*\(pid (\d+)", line)):
            pid = int(found.group(1))
        if pid is not None and "masters subscribed" in line:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            url = next(v for v in environ if v.startswith(b"DISPATCHWIRE_DATABASE_URL="))
            return pid, url.split(b"=", 1)[1].decode().removeprefix("sqlite:///")
    raise SystemExit("the benchmark ended before its masters subscribed")


def cpu_ns(pid: int) -> int:
    """The server's threads' time on a core so far (schedstat: exact, not in clock ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with open(task / "schedstat") as stat:
            total += int(stat.read().split()[0])
    return total


def orders_placed(database: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM orders").fetchone()[0])


def alternate(pid: int, database: str, options: argparse.Namespace) -> list[tuple[bool, float]]:
    """Slots of the step, ABBA, as (timeline on, server CPU µs per order placed)."""
    time.sleep(WARM_UP_S)
    slots: list[tuple[bool, float]] = []
    deadline = time.monotonic() + options.seconds - 2 * WARM_UP_S
    i = 0
    while time.monotonic() < deadline:
        on = i % 4 in (0, 3)
        os.kill(pid, signal.SIGUSR2 if on else signal.SIGUSR1)
        cpu, placed = cpu_ns(pid), orders_placed(database)
        time.sleep(options.slot_s)
        orders = orders_placed(database) - placed
        if orders >= options.rate * options.slot_s / 2:  # the step is under way
            slots.append((on, (cpu_ns(pid) - cpu) / 1e3 / orders))
        i += 1
    os.kill(pid, signal.SIGUSR2)
    return slots


def summary(slots: list[tuple[bool, float]], block: int) -> dict[str, Any]:
    on_means, off_means = [], []
    for start in range(0, len(slots) - 2 * block + 1, 2 * block):
        chunk = slots[start:start + 2 * block]
        if {on for on, _ in chunk} != {True, False}:
            continue
        on_means.append(statistics.fmean(us for on, us in chunk if on))
        off_means.append(statistics.fmean(us for on, us in chunk if not on))
    differences = [a - b for a, b in zip(on_means, off_means, strict=True)]
    quartiles = statistics.quantiles(differences, n=4)
    with_us = statistics.median(on_means)
    return {"blocks": len(differences), "with_us": round(with_us, 1),
            "without_us": round(statistics.median(off_means), 1),
            "difference_us": round(statistics.median(differences), 1),
            "difference_iqr_us": [round(quartiles[0], 1), round(quartiles[2], 1)],
            "share_of_order": round(statistics.median(differences) / with_us, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.timeline_cost",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=250, help="orders/s (default 250)")
    parser.add_argument("--seconds", type=float, default=150, help="the step (default 150)")
    parser.add_argument("--slot-s", type=float, default=1.0, help="a slot (default 1 s)")
    parser.add_argument("--block", type=int, default=4,
                        help="slots of each kind a block (default 4)")
    parser.add_argument("--masters", type=int, default=10_000,
                        help="connected masters (default 10,000)")
    parser.add_argument("--ref", help="the server from this git revision (bench --ref)")
    options = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="dispatchwire-timeline-cost-") as out:
        bench = start_bench(options, Path(out))
        pid, database = server_of(bench)
        slots = alternate(pid, database, options)
        assert bench.stdout is not None
        for line in bench.stdout:
            print(line, end="", flush=True)
        bench.wait()
    result = {"rate": options.rate, "slot_s": options.slot_s, "block": options.block,
              "masters": options.masters, "ref": options.ref or "working tree",
              **summary(slots, options.block), "slots": [[on, round(us, 1)] for on, us in slots],
              "machine": machine_facts(PEER_DIR), "load_before": load_before}
    print(f"an order at {options.rate}/s: {result['with_us']} µs of server CPU with its "
          f"timeline, {result['without_us']} without; the timeline {result['difference_us']} µs"
          f" (quartiles over {result['blocks']} blocks {result['difference_iqr_us']}), "
          f"{100 * result['share_of_order']:.1f}% of an order "
          f"({result['machine']['cpu_model']})", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    slots = result.pop("slots")  # on one line: hundreds of pairs
    text = json.dumps(result, indent=2)[:-2] + f',\n  "slots": {json.dumps(slots)}\n}}\n'
    (RESULTS / "timeline_cost.json").write_text(text)


if __name__ == "__main__":
    main()
