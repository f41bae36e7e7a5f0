"""How fast each core ran during a step: a fixed piece of pure-Python work, timed all along.

A cloud host changes speed under a benchmark (another tenant on the same physical core, a
migrated vCPU, frequency) and the guest does not see it as steal: in one session the same code
at the same rate took 54% of a core in one run and 84% in the next, and the same few
milliseconds of work took 2.8 ms on a core one moment and 5.3 ms the next. A ratio between two
runs means something only if the host ran them at the same speed. So while the benchmark runs,
a small process on each core (the server's, the generator's) times the same work
(`WORK_LOOPS` turns of a small loop, ~2 ms) every `EVERY_S`, and each step reports the median
per core over its own span: more milliseconds than in the other system's step (or the run's
other steps) mean a slower host there, whatever the step's own figures say. The probes take
about 1% of each core, from both systems alike.

`python -m bench.hostspeed` is one such probe: it prints each timing, in ms, a line each.
"""

import statistics
import subprocess
import sys
import threading
import time

from bench.procs import pinned
from bench.seed import REPO
from bench.servers import HELPER_CORE, SERVER_CORE

__all__ = ["HostProbe", "describe"]

WORK_LOOPS = 20_000
EVERY_S = 0.25
CORES = {"server_core": SERVER_CORE, "generator_core": HELPER_CORE}


def _work() -> float:
    """Milliseconds for a fixed amount of interpreted work (integer arithmetic and a dict)."""
    started = time.perf_counter()
    seen: dict[int, int] = {}
    total = 0
    for i in range(WORK_LOOPS):
        total += (i * 7) % 13
        seen[i & 255] = total
    return (time.perf_counter() - started) * 1000


class HostProbe:
    """One probe process per core; `window()` is each core's median timing since the last."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[str]] = []
        self._timings: dict[str, list[float]] = {}

    def start(self, cores: dict[str, int] = CORES) -> "HostProbe":
        for name, core in cores.items():
            proc = subprocess.Popen(pinned([sys.executable, "-m", "bench.hostspeed"], core),
                                    cwd=REPO, stdout=subprocess.PIPE, text=True, bufsize=1)
            self._procs.append(proc)
            self._timings[name] = []
            threading.Thread(target=self._read, args=(name, proc), daemon=True,
                             name=f"host-probe-{name}").start()
        return self

    def _read(self, name: str, proc: "subprocess.Popen[str]") -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._timings[name].append(float(line))

    def window(self) -> dict[str, float]:
        """The median timing per core since the last window, in ms (cores with none left out)."""
        medians = {}
        for name in self._timings:
            timings, self._timings[name] = self._timings[name], []
            if timings:
                medians[name] = round(statistics.median(timings), 2)
        return medians

    def stop(self) -> None:
        for proc in self._procs:
            proc.kill()
            proc.wait()
        self._procs.clear()


def describe(probe: dict[str, float]) -> str:
    """For a step's line: `; host probe 1.6/1.5 ms` (the server's core / the generator's)."""
    if not probe:
        return ""
    return "; host probe " + "/".join(f"{ms:.1f}" for ms in probe.values()) + " ms"


if __name__ == "__main__":
    _work()  # a warm cache
    try:
        while True:
            print(f"{_work():.3f}", flush=True)
            time.sleep(EVERY_S)
    except (BrokenPipeError, KeyboardInterrupt):
        pass
