"""`python -m bench --profile`: py-spy on dispatchwire's server under the dispatch scenario.

The server runs as in the benchmark (pinned, N masters subscribed) while orders come at a rate
near its limit; two py-spy samplers (on the generator's core, not pausing the server) write a
flame graph (profile.svg) and collapsed stacks, which are summed here into the functions and
the areas (JSON, SQLAlchemy, sqlite, the HTTP stack, ...) that take the samples.
"""

import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.delivery import Publisher, an_order_of_record, next_event_ids
from bench.delivery import run_step as run_delivery_step
from bench.dispatch import Step, run_step
from bench.options import Options
from bench.procs import pin_self, pinned
from bench.rig import Rig
from bench.run import SQL_COUNTS, _connect, _restart_for_delivery, open_rig
from bench.seed import Plan
from bench.server_probe import MICROS
from bench.servers import HELPER_CORE, RedisServer
from bench.source import describe_source, export_source
from bench.waits import until

__all__ = ["run_profile", "summarize_folded"]

# Areas of a stack, first match wins: what a frame's file path says it is.
AREAS: list[tuple[str, str]] = [
    ("the loop's own C code (uvloop: I/O, callbacks) or idle", "(asyncio/runners.py"),
    ("json (stdlib json)", "(json/"),
    ("logging", "(logging/"),
    ("SQLAlchemy", "(sqlalchemy/"),
    ("aiosqlite / sqlite3", "sqlite"),
    ("pydantic", "(pydantic"),
    ("uvicorn / starlette / fastapi (HTTP and WebSocket stack)", "(uvicorn/"),
    ("uvicorn / starlette / fastapi (HTTP and WebSocket stack)", "(starlette/"),
    ("uvicorn / starlette / fastapi (HTTP and WebSocket stack)", "(fastapi/"),
    ("websockets (protocol)", "(websockets/"),
    ("PyJWT", "(jwt/"),
    ("prometheus_client", "(prometheus_client/"),
    ("tenacity", "(tenacity/"),
    ("dispatchwire (its own code)", "(dispatchwire/"),
    ("asyncio / uvloop", "(asyncio/"),
    ("greenlet", "greenlet"),
]


def _group(thread: str) -> str:
    if "MainThread" in thread:
        return "main thread (the event loop)"
    if "_connection_worker_thread" in thread:
        return "aiosqlite worker threads (sqlite3 calls)"
    return "other threads"


def summarize_folded(text: str, top: int = 30) -> dict[str, Any]:
    """Shares of samples from py-spy's collapsed stacks (recorded with --threads): per thread
    group, and on the main thread (where the event loop runs) per function and per area."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count, (thread, *frames) = int(count_text), stack.split(";")
        threads[_group(thread)] += count
        if not frames or "MainThread" not in thread:
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
        areas[next((area for area, marker in AREAS if marker in frames[-1]), "other")] += count
    samples, main = sum(threads.values()), own.total()

    def share(counter: Counter[str], of: int) -> list[tuple[str, float]]:
        return [(name, round(100 * n / of, 1)) for name, n in counter.most_common(top)]

    return {"samples": samples, "threads": share(threads, samples), "main_samples": main,
            "main_self": share(own, main), "main_inclusive": share(total, main),
            "main_areas_by_leaf": share(areas, main)}


def _py_spy(pid: int, seconds: float, fmt: str, output: Path) -> "subprocess.Popen[bytes]":
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
               "--rate", "100", "--nonblocking", "--threads", "--format", fmt,
               "--output", str(output)]
    return subprocess.Popen(pinned(command, HELPER_CORE), stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)


def _default_rate(options: Options) -> int:
    """Near the limit: 90% of the most the last run saw dispatchwire deliver."""
    latest = options.out / "latest.json"
    scenario = options.profile_scenario
    if latest.exists():
        figures = json.loads(latest.read_text())["scenarios"].get(scenario, {})
        saturation = figures.get("dispatchwire", {}).get("saturation_per_s")
        if saturation:
            return max(1, int(saturation * 0.9))
    return 50 if scenario == "dispatch" else 2000


async def _profiled_step(rig: Rig, options: Options, rate: int, redis: RedisServer | None,
                         say: Any) -> Step:
    """Run the scenario's step at `rate` while two py-spy samplers record the server."""
    svg, folded = _outputs(options)
    duration = options.profile_s + 2
    publisher = None
    if redis is not None:
        await redis.start()
        await _restart_for_delivery(rig, redis, rig.database.parent, say)
        publisher = await Publisher.connect(redis.port)
        rig.delivery_order = an_order_of_record(rig)
    samplers = [_py_spy(rig.server.pid, options.profile_s, "flamegraph", svg),
                _py_spy(rig.server.pid, options.profile_s, "raw", folded)]
    before = await _sql_counts(rig)
    if publisher is None:
        step = await run_step(rig, rate, duration)
    else:
        step = await run_delivery_step(rig, publisher, rate, duration, next_event_ids(rig))
        publisher.transport.close()
    rig.sql_per_message = _per_message(before, await _sql_counts(rig), step.offers)
    await until(lambda: all(sampler.poll() is not None for sampler in samplers), 60.0)
    return step


async def _sql_counts(rig: Rig) -> Counter[str]:
    """The server's statement counts now (written twice a second by bench.server_probe)."""
    await asyncio.sleep(0.6)
    path = rig.database.parent / SQL_COUNTS
    return Counter(json.loads(path.read_text())) if path.exists() else Counter()


def _per_message(before: Counter[str], after: Counter[str], messages: int
                 ) -> list[tuple[str, float]]:
    """Statements per order (or per delivered message), most frequent first, with a total."""
    if not messages:
        return []
    used = after - before
    rows = [(text, round(count / messages, 2)) for text, count in used.most_common()]
    statements = sum(count for text, count in used.items()
                     if text != "COMMIT" and not text.startswith(MICROS))
    micros = sum(count for text, count in used.items() if text.startswith(MICROS))
    return [("ALL STATEMENTS", round(statements / messages, 2)),
            (MICROS + "ALL STATEMENTS", round(micros / messages, 2)), *rows]


def _outputs(options: Options) -> tuple[Path, Path]:
    suffix = "" if options.profile_scenario == "dispatch" else "-" + options.profile_scenario
    return options.out / f"profile{suffix}.svg", options.out / "raw" / f"profile{suffix}.folded"


async def run_profile(options: Options, raw_dir: Path, say: Any) -> None:
    pin_self(HELPER_CORE)
    rate = options.profile_rate or _default_rate(options)
    plan = Plan(masters=options.masters, clients=options.clients,
                secret=secrets.token_urlsafe(48))
    workdir = raw_dir / "profile"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    delivery = options.profile_scenario == "delivery"
    redis = RedisServer(workdir / "redis.log") if delivery else None
    with tempfile.TemporaryDirectory(prefix="dispatchwire-profile-") as tmp:
        source = export_source(options.ref, Path(tmp)) if options.ref else None
        try:
            async with open_rig("dispatchwire", options, plan, workdir, say, source) as rig:
                await _connect(rig, say)
                step = await _profiled_step(rig, options, rate, redis, say)
                rig_sql = rig.sql_per_message
        finally:
            if redis is not None:
                redis.stop()
    svg, folded = _outputs(options)
    say(f"profiled dispatchwire ({describe_source(options.ref)}) under "
        f"{options.profile_scenario} at {rate}/s: p99 {step.latency['p99_ms']} ms, arrived "
        f"{step.throughput_per_s}/s, server CPU {step.server_cpu_pct}%")
    summary = summarize_folded(folded.read_text())
    summary.update(sql_per_message=rig_sql, scenario=options.profile_scenario,
                   rate_per_s=rate, masters=options.masters,
                   dispatchwire_source=describe_source(options.ref),
                   p99_ms=step.latency["p99_ms"], throughput_per_s=step.throughput_per_s,
                   server_cpu_pct=step.server_cpu_pct)
    out_json = svg.with_suffix(".json")
    out_json.write_text(json.dumps(summary, indent=1) + "\n")
    for title, key in (("threads", "threads"),
                       ("main thread: areas (by the frame on top)", "main_areas_by_leaf"),
                       ("main thread: functions, self", "main_self"),
                       ("main thread: functions, inclusive", "main_inclusive")):
        say(f"\n{title}:")
        for name, pct in summary[key][:20]:
            say(f"  {pct:5.1f}%  {name}")
    say("\nSQL statements per offer delivered (an order and its cancel, in dispatch):")
    for text, per in [row for row in rig_sql if not row[0].startswith(MICROS)][:25]:
        say(f"  {per:6.2f}  {text}")
    say("\nSQLite's time per offer delivered, µs (statements run on the loop's connection):")
    for text, per in sorted((row for row in rig_sql if row[0].startswith(MICROS)),
                            key=lambda row: -row[1])[:25]:
        say(f"  {per:7.1f}  {text.removeprefix(MICROS)}")
    say(f"\nwrote {svg} and {out_json}")
