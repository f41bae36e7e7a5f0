"""`dispatchwire serve` with probes for the benchmark: GC pauses, and SQL statements.

The benchmark starts dispatchwire's server as `python -m bench.server_probe serve ...`: the same
command and code, plus
- with BENCH_GC_LOG: a `gc.callbacks` hook that appends one line per full (generation 2)
  collection, and per any collection of 5 ms or more, to that file:
  `<unix time> <generation> <milliseconds>`, so that the loop stalls the canary sees can be
  told apart (a full collection, or the application's own work); with BENCH_GC_SIZES (the
  soak's `--gc-sizes`), how many objects each such collection examined, as a fourth column.
  Every generation is timed besides: each quarter of a second that had collections appends,
  per generation, `<unix time> <generation> <count> <total ms> <longest ms>` to the file
  named with `.generations` after it;
- with BENCH_TRACEMALLOC (the soak's `--trace-memory`): the Python heap's growth by source
  line, every minute;
- with BENCH_GC_YOUNG_EVERY_S (the soak's `--gc-young-every`): a young collection that often;
- with BENCH_SQL_LOG (profiling only): a SQLAlchemy event counting every statement sent to the
  database, by its text, and every commit, written to that file as JSON twice a second, so that
  the profile can say how many round-trips an order costs;
- with BENCH_CPROFILE (by hand, not used by the benchmark): cProfile on the event loop's thread
  from a SIGUSR1 to a SIGUSR2, which writes the stats to that file. Deterministic, so calls per
  order and the cost of one path against another's show where sampling (py-spy) cannot say;
- with BENCH_STALLS (by hand): what the loop was doing while it stalled. A timer on the loop
  beats every 2 ms; a thread looks every millisecond and, while the last beat is over
  STALL_MS old, counts the loop thread's stack (each sample a millisecond of stall). Twice a
  second the stacks seen most are written to that file, with how many samples each, and the
  stalls themselves (when, how long, the innermost lines seen most in each). SIGUSR1 starts
  counting afresh, SIGUSR2 stops counting (so a run can keep one step's stalls);
- with BENCH_TIMELINE_TOGGLE (`python -m bench.timeline_cost`): SIGUSR1 makes the timeline's
  two writers (`timeline.record`, `timeline.insert_sent`) do nothing, SIGUSR2 puts them back,
  so that one run can alternate an order's cost with and without its timeline second by
  second.
"""

import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

SLOW_MS = 5.0


GENERATIONS_EVERY_S = 0.25


def _install(path: str, *, sizes: bool = False) -> None:
    log = open(path, "a", buffering=1)  # noqa: SIM115 - open for the life of the process
    generations = open(path + ".generations", "a", buffering=1)  # noqa: SIM115 - likewise
    started, examined = [0.0], [0]
    # per generation: collections, their total ms and the longest, since `flushed`
    tally: dict[int, list[float]] = {}
    flushed = [time.monotonic()]

    def count(generation: int, ms: float) -> None:
        counts = tally.setdefault(generation, [0, 0.0, 0.0])
        counts[0] += 1
        counts[1] += ms
        counts[2] = max(counts[2], ms)
        if time.monotonic() - flushed[0] >= GENERATIONS_EVERY_S:
            now = time.time()
            for gen, (n, total, longest) in sorted(tally.items()):
                generations.write(f"{now:.3f} {gen} {n:.0f} {total:.2f} {longest:.2f}\n")
            tally.clear()
            flushed[0] = time.monotonic()

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            if sizes:  # counted before the clock starts: the pause is the collection's own
                examined[0] = sum(len(gc.get_objects(g)) for g in range(info["generation"] + 1))
            started[0] = time.perf_counter()
            return
        ms = (time.perf_counter() - started[0]) * 1000
        count(info["generation"], ms)
        if info["generation"] == 2 or ms >= SLOW_MS:
            size = f" {examined[0]}" if sizes else ""
            log.write(f"{time.time():.3f} {info['generation']} {ms:.1f}{size}\n")

    gc.callbacks.append(timed)


MICROS = "µs "  # a count key so marked holds microseconds spent, not statements run


def _count_statements(path: str) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counts: Counter[str] = Counter()

    @event.listens_for(Engine, "before_cursor_execute")
    def statement(_conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        counts[" ".join(text.split())[:100]] += 1

    @event.listens_for(Engine, "commit")
    def commit(_conn: Any) -> None:
        counts["COMMIT"] += 1

    _count_loop_statements(counts)

    def dump_forever() -> None:
        while True:
            time.sleep(0.5)
            with open(path + ".tmp", "w") as out:
                json.dump(dict(counts), out)
            os.replace(path + ".tmp", path)

    threading.Thread(target=dump_forever, daemon=True, name="bench-sql-counts").start()


def _count_loop_statements(counts: Counter[str]) -> None:
    """The statements SQLite runs on the loop's own connection, past SQLAlchemy (its module
    moved with the redesign: store/sql.py, before it sql.py)."""
    import importlib

    for name in ("dispatchwire.store.sql", "dispatchwire.sql"):
        try:
            kind = importlib.import_module(name).SqliteSql
        except (ImportError, AttributeError):
            continue
        for method in ("rows", "run_many"):
            original = getattr(kind, method)

            async def counted(self: Any, sql: str, *args: Any, _original: Any = original) -> Any:
                key = " ".join(sql.split())[:100]
                counts[key] += 1
                started = time.perf_counter()
                try:  # no await inside SQLite's methods: this is the statement's own time
                    return await _original(self, sql, *args)
                finally:
                    counts[MICROS + key] += round((time.perf_counter() - started) * 1e6)

            setattr(kind, method, counted)
        commit = kind.commit

        def committed(self: Any, _original: Any = commit) -> Any:
            counts["COMMIT"] += 1
            started = time.perf_counter()
            try:
                return _original(self)
            finally:
                counts[MICROS + "COMMIT"] += round((time.perf_counter() - started) * 1e6)

        kind.commit = committed
        return


def _trace_memory(path: str, every_s: float = 60.0) -> None:
    """Every `every_s`: the Python heap traced by tracemalloc, and the 25 source lines whose
    allocations grew most since the first look, appended to `path` (the soak's
    `--trace-memory`: whether a growing RSS is Python's objects or memory outside them, such
    as SQLite's page caches)."""
    import tracemalloc

    tracemalloc.start(1)

    def watch_forever() -> None:
        first = tracemalloc.take_snapshot()
        while True:
            time.sleep(every_s)
            snapshot = tracemalloc.take_snapshot()
            current, peak = tracemalloc.get_traced_memory()
            with open(path, "a") as out:
                out.write(f"{time.time():.0f} traced {current / 2**20:.1f} MiB "
                          f"(peak {peak / 2**20:.1f})\n")
                for stat in snapshot.compare_to(first, "lineno")[:25]:
                    out.write(f"  {stat}\n")

    threading.Thread(target=watch_forever, daemon=True, name="bench-tracemalloc").start()


def _pace_gc(every_s: float) -> None:
    """Collect the young generation every `every_s` (the soak's `--gc-young-every`): whether
    frequent small collections replace the rare long ones that churn lets grow. (A young
    collection is due after 20,000 more allocations than frees; freeing old objects counts
    as a free, so while sockets come and go the young generation grows far past that.)"""

    def pace_forever() -> None:
        while True:
            time.sleep(every_s)
            gc.collect(0)

    threading.Thread(target=pace_forever, daemon=True, name="bench-gc-pace").start()


STALL_MS, BEAT_S, STALL_STACKS = 10.0, 0.002, 25


def _sample_stalls(path: str) -> None:
    import signal
    import traceback

    import uvloop

    # No samples before the loop's first beat: reading another thread's frames while it imports
    # crashed CPython 3.11 once (a segmentation fault as the server started).
    last_beat = [float("inf")]
    counting = [True]
    stacks: Counter[str] = Counter()
    episodes: list[tuple[float, int, Counter[str]]] = []  # wall time, ms, innermost lines
    loop_thread = threading.get_ident()
    make_loop = uvloop.new_event_loop

    def beat(loop: Any) -> None:
        last_beat[0] = time.monotonic()
        loop.call_later(BEAT_S, beat, loop)

    def new_event_loop() -> Any:  # uvicorn asks uvloop for its loop by this name
        loop = make_loop()
        loop.call_soon(beat, loop)
        return loop

    def sample(episode: Counter[str]) -> None:
        frame = sys._current_frames().get(loop_thread)
        if frame is None:
            return
        lines = [line.split("\n")[0] for line in
                 traceback.format_list(traceback.extract_stack(frame)[-14:])]
        stacks["\n".join(lines)] += 1
        episode["\n".join(lines[-3:])] += 1

    def write() -> None:
        with open(path, "w") as out:
            for start, ms, inner in episodes[-200:]:
                top = inner.most_common(1)[0][0].replace("\n", " | ") if inner else "?"
                out.write(f"{start:.3f} {ms} ms: {top}\n")
            for stack, n in stacks.most_common(STALL_STACKS):
                out.write(f"\n== {n} ms\n{stack}\n")

    def watch_forever() -> None:
        written, episode = time.monotonic(), None
        while True:
            time.sleep(0.001)
            now = time.monotonic()
            if counting[0] and (now - last_beat[0]) * 1000 > STALL_MS:
                if episode is None:
                    episode = (time.time(), [0], Counter[str]())
                episode[1][0] += 1
                sample(episode[2])
            elif episode is not None:
                episodes.append((episode[0], episode[1][0], episode[2]))
                episode = None
            if now - written > 0.5:
                written = now
                write()

    def restart(*_: object) -> None:
        stacks.clear()
        episodes.clear()
        counting[0] = True

    def stop(*_: object) -> None:
        counting[0] = False

    uvloop.new_event_loop = new_event_loop
    signal.signal(signal.SIGUSR1, restart)
    signal.signal(signal.SIGUSR2, stop)
    threading.Thread(target=watch_forever, daemon=True, name="bench-stalls").start()


def _profile_on_signals(path: str) -> None:
    import cProfile
    import signal

    profile = cProfile.Profile()

    def dump(*_: object) -> None:
        profile.disable()
        profile.dump_stats(path)

    signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
    signal.signal(signal.SIGUSR2, dump)


def _toggle_timeline_on_signals() -> None:
    import signal

    from dispatchwire.orders import timeline

    record, insert_sent = timeline.record, timeline.insert_sent

    async def no_sent(*_: object, **__: object) -> None:
        return None

    def off(*_: object) -> None:
        timeline.record = lambda *_, **__: None  # type: ignore[assignment]
        timeline.insert_sent = no_sent  # type: ignore[assignment]

    def on(*_: object) -> None:
        timeline.record, timeline.insert_sent = record, insert_sent  # type: ignore[assignment]

    signal.signal(signal.SIGUSR1, off)
    signal.signal(signal.SIGUSR2, on)


if __name__ == "__main__":
    if os.environ.get("BENCH_GC_YOUNG_EVERY_S"):
        _pace_gc(float(os.environ["BENCH_GC_YOUNG_EVERY_S"]))
    if os.environ.get("BENCH_TRACEMALLOC"):
        _trace_memory(os.environ["BENCH_TRACEMALLOC"])
    if os.environ.get("BENCH_GC_LOG"):
        _install(os.environ["BENCH_GC_LOG"], sizes=bool(os.environ.get("BENCH_GC_SIZES")))
    if os.environ.get("BENCH_STALLS"):
        _sample_stalls(os.environ["BENCH_STALLS"])
    if os.environ.get("BENCH_SQL_LOG"):
        _count_statements(os.environ["BENCH_SQL_LOG"])
    from dispatchwire.cli import main

    if os.environ.get("BENCH_CPROFILE"):
        _profile_on_signals(os.environ["BENCH_CPROFILE"])
    if os.environ.get("BENCH_TIMELINE_TOGGLE"):
        _toggle_timeline_on_signals()

    main(sys.argv[1:])
