"""`python -m bench`: run both systems through the scenarios and write the results."""

import json
import os
import secrets
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from bench.options import Options, parse_options
from bench.procs import load_average, machine_facts, pin_self, wait_for_quiet
from bench.run import run_system
from bench.seed import PEER_DIR, Plan
from bench.servers import HELPER_CORE, RedisServer
from bench.source import describe_source, export_source

__all__ = ["main"]

QUIET_LOAD = 0.7


def say(text: str) -> None:
    print(text, flush=True)


async def _run(options: Options, raw_dir: Path) -> dict[str, Any]:
    plan = Plan(masters=options.masters, clients=options.clients,
                secret=secrets.token_urlsafe(48))
    results: dict[str, Any] = {"systems": {}}
    redis = RedisServer(raw_dir / "redis.log") if "delivery" in options.scenarios else None
    with tempfile.TemporaryDirectory(prefix="dispatchwire-bench-") as tmp:
        source = export_source(options.ref, Path(tmp)) if options.ref else None
        try:
            if redis is not None:
                await redis.start()
            for system in options.systems:
                workdir = Path(tmp) / system
                workdir.mkdir()
                started = time.monotonic()
                results["systems"][system] = await run_system(system, options, plan, workdir,
                                                              redis, say, source)
                results["systems"][system]["run_s"] = round(time.monotonic() - started, 1)
                for log in workdir.glob("*.log"):  # kept for a look after the run
                    (raw_dir / log.name).write_bytes(log.read_bytes())
        finally:
            if redis is not None:
                redis.stop()
    return results


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C: cleanups run and every started server is killed."""
    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    _stop_on_sigterm()
    raw_dir = options.out / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    if options.report_only:
        from bench.report import write_reports

        write_reports(json.loads((raw_dir / "run.json").read_text()), options.out, say)
        return
    if options.profile:
        from bench.profile import run_profile

        uvloop.run(run_profile(options, raw_dir, say))
        return
    if options.database == "postgresql":
        _run_postgresql(options, raw_dir)
        return
    load_before = wait_for_quiet(QUIET_LOAD, options.wait_quiet_s, say) \
        if options.wait_quiet_s > 0 else load_average()
    pinned = pin_self(HELPER_CORE)
    say(f"bench: {options.masters} masters, systems {options.systems}, scenarios "
        f"{options.scenarios}; load {load_before}; generator pinned to core {HELPER_CORE}: "
        f"{pinned}")
    started = time.monotonic()
    results = uvloop.run(_run(options, raw_dir))
    results.update(generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
                   duration_s=round(time.monotonic() - started, 1), machine=machine_facts(PEER_DIR),
                   load_before=load_before, load_after=load_average(),
                   generator_pinned=pinned, options=_jsonable(vars(options)),
                   dispatchwire_source=describe_source(options.ref),
                   dispatchwire_settings=_settings_passed())
    from bench.report import write_reports

    write_reports(results, options.out, say)
    if not results["systems"]:
        sys.exit("bench: no system ran")


def _run_postgresql(options: Options, raw_dir: Path) -> None:
    """bench/postgresql.py's run, written to postgresql.json and postgresql.md."""
    from bench.postgresql import describe, run_postgresql

    load_before = wait_for_quiet(QUIET_LOAD, options.wait_quiet_s, say) \
        if options.wait_quiet_s > 0 else load_average()
    pinned = pin_self(HELPER_CORE)
    say(f"bench on PostgreSQL: {options.masters} masters, nodes {options.nodes}; load "
        f"{load_before}; generator pinned to core {HELPER_CORE}: {pinned}")
    started = time.monotonic()
    results = uvloop.run(run_postgresql(options, raw_dir, say))
    results.update(generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
                   duration_s=round(time.monotonic() - started, 1),
                   machine=machine_facts(PEER_DIR), load_before=load_before,
                   load_after=load_average(), generator_pinned=pinned,
                   options=_jsonable(vars(options)),
                   dispatchwire_source=describe_source(options.ref))
    (options.out / "postgresql.json").write_text(json.dumps(results, indent=1) + "\n")
    table = describe(results)
    (options.out / "postgresql.md").write_text(
        f"# dispatchwire on PostgreSQL + Redis ({results['generated_at']})\n\n"
        f"CPU: {results['machine'].get('cpu_model')}\n\n{table}")
    say(table)


def _settings_passed() -> dict[str, str]:
    """The DISPATCHWIRE_* settings this run passed on to the server (secrets left out)."""
    return {name: value for name, value in sorted(os.environ.items())
            if name.startswith("DISPATCHWIRE_")
            and not any(word in name for word in ("SECRET", "KEY", "PASSWORD"))}


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, Path) else value
            for key, value in values.items()}
