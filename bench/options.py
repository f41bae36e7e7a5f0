"""The benchmark's options: command-line flags, each also a BENCH_* environment variable."""

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SCENARIOS", "SYSTEMS", "Options", "parse_options"]

SYSTEMS = ("dispatchwire", "peer")
SCENARIOS = ("dispatch", "storm", "fanout", "delivery")
RESULTS = Path(__file__).with_name("results")


@dataclass
class Options:
    masters: int = 10_000
    clients: int = 100
    systems: list[str] = field(default_factory=lambda: list(SYSTEMS))
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    rates: list[int] = field(default_factory=lambda: [250, 500, 1000, 2000, 4000])
    step_s: float = 10.0
    delivery_rates: list[int] = field(default_factory=lambda: [2000, 4000, 8000, 16000, 32000])
    delivery_step_s: float = 5.0
    refine: int = 2
    free_masters: str = "cancel"
    fanout: int = 3
    storm_rate: float = 2.0
    storm_timeout_s: float = 60.0
    ref: str | None = None
    acks: str = "yes"
    p99_limit_ms: float = 100.0
    http_connections: int = 64
    connect_concurrency: int = 500
    profile: bool = False
    report_only: bool = False
    profile_rate: int | None = None
    profile_scenario: str = "dispatch"
    profile_s: float = 20.0
    wait_quiet_s: float = 180.0
    out: Path = RESULTS
    database: str = "sqlite"
    nodes: list[int] = field(default_factory=lambda: [1, 2])


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _names(allowed: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; expected some of {allowed}")
        return names
    return parse


def _choice(*allowed: str):  # type: ignore[no-untyped-def]
    def parse(text: str) -> str:
        if text not in allowed:
            raise argparse.ArgumentTypeError(f"expected one of {allowed}, not {text!r}")
        return text
    return parse


# (flag, type, help); each flag's default comes from BENCH_<FLAG> when that is set.
FLAGS: list[tuple[str, object, str]] = [
    ("masters", int, "connected masters, N (default 10000)"),
    ("clients", int, "clients placing orders (default 100)"),
    ("systems", _names(SYSTEMS), "which systems, comma-separated (default: both)"),
    ("scenarios", _names(SCENARIOS), "which scenarios: dispatch,storm,fanout,delivery (default: "
     "all; fanout is dispatchwire's alone)"),
    ("rates", _ints, "the dispatch ladder, orders/s (default 250,500,1000,2000,4000)"),
    ("step-s", float, "seconds per dispatch step (default 10)"),
    ("free-masters", _choice("cancel", "between-steps"), "how masters are freed: each order's "
     "client cancels it as soon as its offer arrives (cancel, default), or all after each "
     "step, untimed (between-steps)"),
    ("fanout", int, "the fanout scenario's K: offers made at once per order (default 3)"),
    ("delivery-rates", _ints, "the delivery ladder, messages/s (default 2000,...,32000)"),
    ("delivery-step-s", float, "seconds per delivery step (default 5)"),
    ("refine", int, "rungs tried between a ladder's last rate held and its first failed, each "
     "halving the gap (default 2: a 500 held, 1000 failed ladder tries 750, then 625 or 875)"),
    ("storm-rate", float, "orders/s placed through the connect storm, at most half what the "
     "dispatch ladder saw delivered (default 2)"),
    ("storm-timeout-s", float, "how long the masters may take to resubscribe (default 60)"),
    ("ref", str, "run dispatchwire from this git revision (e.g. HEAD) instead of the working "
     "tree; the peer and the harness stay as they are"),
    ("acks", _choice("yes", "no"), "dispatchwire's masters ack every event as its apps do "
     "(yes, default); no: as before receipts, to measure a revision from before them or what "
     "acks cost"),
    ("p99-limit-ms", float, "a step holds while p99 stays at or below this (default 100)"),
    ("http-connections", int, "keep-alive connections of the clients' pool (default 64)"),
    ("connect-concurrency", int, "handshakes at a time when the masters first connect"),
    ("profile-rate", int, "with --profile: orders/s to profile at (default: near the limit)"),
    ("profile-s", float, "with --profile: seconds of py-spy recording (default 20)"),
    ("profile-scenario", _choice("dispatch", "delivery"),
     "with --profile: dispatch (profile.svg) or delivery (profile-delivery.svg)"),
    ("wait-quiet-s", float, "wait up to this long for a 1-min load < 0.7 first (default 180)"),
    ("out", Path, "where results go (default bench/results)"),
    ("database", _choice("sqlite", "postgresql"), "sqlite (default): dispatchwire beside the "
     "peer; postgresql: dispatchwire alone on a throwaway PostgreSQL + Redis, as a cluster of "
     "--nodes, through the dispatch ladder (bench/postgresql.py)"),
    ("nodes", _ints, "with --database postgresql: the cluster sizes to run (default 1,2)"),
]


def parse_options(argv: list[str] | None = None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="dispatchwire beside the seed's Node stack: "
        "dispatch, connect storm and delivery at N connected masters (docs/performance.md).")
    for flag, kind, text in FLAGS:
        name = flag.replace("-", "_")
        env = os.environ.get("BENCH_" + name.upper())
        default = kind(env) if env else getattr(defaults, name)  # type: ignore[operator]
        parser.add_argument("--" + flag, type=kind, default=default, help=text)
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("BENCH_QUICK") == "1",
                        help="a smoke run: 1000 masters, 3 s steps (BENCH_QUICK=1)")
    parser.add_argument("--profile", action="store_true",
                        default=os.environ.get("BENCH_PROFILE") == "1",
                        help="only profile dispatchwire's server with py-spy under one "
                        "scenario (bench/results/profile*.svg) (BENCH_PROFILE=1)")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild latest.json, latest.md and the plots from the last run's "
                        "raw/run.json, running nothing")
    args = vars(parser.parse_args(argv))
    if args.pop("quick"):
        args.update(masters=min(args["masters"], 1000), step_s=3.0, delivery_step_s=2.0,
                    wait_quiet_s=0.0)
    return Options(**args)
