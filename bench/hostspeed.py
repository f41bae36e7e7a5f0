"""How fast each core runs just before a step: a fixed piece of pure-Python work, timed.

A cloud host changes speed under a benchmark (another tenant, a migrated vCPU, frequency) and
the guest does not see it as steal: in one session the same code at the same rate took 54% of
a core in one run and 84% in the next, and the reference commit failed at a rate it had held
ten minutes before. A ratio between two runs means something only if the host ran them at the
same speed. So before each step the generator times the same work (`WORK_LOOPS` turns of a
small loop, a few milliseconds) on the server's core and on its own, and the step reports the
median of `PROBES` tries per core: more milliseconds than the run's other steps (or than the
other system's run) mean a slower host for that step, whatever the step's own figures say.

The server's core is idle between steps, so the probe measures the host rather than the server;
the generator's event loop waits the ~20 ms the probes take.
"""

import os
import statistics
import time

from bench.servers import HELPER_CORE, SERVER_CORE

__all__ = ["describe", "probe_cores", "probe_host"]

WORK_LOOPS = 40_000
PROBES = 5


def _work() -> float:
    """Milliseconds for a fixed amount of interpreted work (integer arithmetic and a dict)."""
    started = time.perf_counter()
    seen: dict[int, int] = {}
    total = 0
    for i in range(WORK_LOOPS):
        total += (i * 7) % 13
        seen[i & 255] = total
    return (time.perf_counter() - started) * 1000


def probe_ms(core: int) -> float | None:
    """The median time of the fixed work on `core` (this thread moved there meanwhile); None
    where this thread cannot be pinned."""
    if not hasattr(os, "sched_getaffinity") or core >= (os.cpu_count() or 1):
        return None
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {core})
        _work()  # the move itself, and a warm cache
        return round(statistics.median(_work() for _ in range(PROBES)), 2)
    finally:
        os.sched_setaffinity(0, before)


def probe_cores(cores: dict[str, int]) -> dict[str, float]:
    """`probe_ms` for each named core (those that could be probed)."""
    times = {name: probe_ms(core) for name, core in cores.items()}
    return {name: ms for name, ms in times.items() if ms is not None}


def probe_host() -> dict[str, float]:
    """The probe on the server's core and on the generator's."""
    return probe_cores({"server_core": SERVER_CORE, "generator_core": HELPER_CORE})


def describe(probe: dict[str, float]) -> str:
    """For a step's line: `; host probe 3.1/2.9 ms` (server's core / generator's)."""
    if not probe:
        return ""
    return "; host probe " + "/".join(f"{ms:.1f}" for ms in probe.values()) + " ms"
