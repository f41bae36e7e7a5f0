"""`python -m bench.refusals`: what refusing a new order costs the server's core.

Past twice its limit the server refuses about as many orders as it takes, so the cost of a
refusal decides how much of its most it still completes (docs/performance.md, "The ninth
pass"). This measures it alone: a dispatchwire server on a fresh SQLite file, overloaded with
no room at all (every new order is refused), on the server's core; a client on the
generator's core places orders at a steady rate over 32 keep-alive connections, and the
server's CPU above its idle, per request, is the figure. Three ways, alternated:
- `lane`: refused by the fast lane (uvicorn's task, the application's middleware, the lane);
- `early`: refused by the HTTP protocol as soon as the head is read (`EarlyRefusals`);
- `floor`: a bare uvloop protocol that writes the same 503 (a request's read and a write).

`--rate` (1,000 a second by default: each request wakes the loop alone, as past the limit),
`--seconds` per measurement, `--rounds` of the three.
"""

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from bench.procs import CpuMeter, pin_self
from bench.servers import HELPER_CORE, Server, free_port

__all__ = ["main"]

MODES = ("lane", "early", "floor")
CONNECTIONS = 32
BODY = b'{"applianceType":"washing_machine","problem":"x","address":"y"}'
REQUEST = (b"POST /api/orders HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer a.b.c\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))


class RefusingServer(Server):
    """The server under test, in one of the MODES."""

    def __init__(self, mode: str, workdir: Path) -> None:
        self.name, self.mode, port = f"{mode} server", mode, free_port()
        super().__init__(port=port, log_path=workdir / f"{mode}.log", env={
            "DISPATCHWIRE_DATABASE_URL": f"sqlite:///{workdir / f'{mode}.db'}",
            "DISPATCHWIRE_JWT_SECRET": secrets.token_urlsafe(48),
            "DISPATCHWIRE_HOST": "127.0.0.1", "DISPATCHWIRE_PORT": str(port),
            "DISPATCHWIRE_OVERLOAD_QUEUE_MS": "20"})

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.refusals", "serve", self.mode]


def _serve(mode: str) -> None:
    """The server under test (run as `python -m bench.refusals serve MODE`)."""
    if mode == "floor":
        uvloop.run(_floor(int(os.environ["DISPATCHWIRE_PORT"])))
        return
    from dispatchwire.cli import main as dispatchwire
    from dispatchwire.http import admission, overload

    original = overload.Overload.__init__

    def no_room(self: overload.Overload, target_ms: float, clock: object = None) -> None:
        original(self, target_ms, clock)
        self.limit = 0.0  # overloaded, every new order refused

    overload.Overload.__init__ = no_room
    overload.Overload._turn = lambda self, stay, now, quiet: None
    if mode == "lane":
        admission.AdmittedHttpProtocol._refused_at_once = lambda self: False
    dispatchwire(["serve"])


async def _floor(port: int) -> None:
    from dispatchwire.http.fastlane import EarlyRefusals

    answer = EarlyRefusals.response([(b"server", b"floor")])

    class Refuse(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            if data.startswith(b"GET"):  # the readiness check (GET /health)
                self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")  # type: ignore[attr-defined]
            elif data.startswith(b"POST"):
                self.transport.write(answer)  # type: ignore[attr-defined]

    server = await asyncio.get_running_loop().create_server(Refuse, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def _measure(mode: str, rate: int, seconds: float, workdir: Path) -> float:
    """µs of the server's core per refused order, above its idle."""
    server = RefusingServer(mode, workdir)
    await server.start()
    try:
        return await _load(server.pid, server.port, rate, seconds)
    finally:
        server.kill()


async def _load(pid: int, port: int, rate: int, seconds: float) -> float:
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CONNECTIONS)]
    free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)
    answered = 0

    async def refused(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 503"):
            raise RuntimeError(f"not a refusal: {head[:40]!r}")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        answered += 1
        free.put_nowait((reader, writer))

    await asyncio.sleep(1.0)
    meter = CpuMeter(pid).start()
    await asyncio.sleep(2.0)
    idle = meter.percent() / 100
    meter, started, sent = CpuMeter(pid).start(), time.monotonic(), 0
    tasks = set()
    while (elapsed := time.monotonic() - started) < seconds:
        while sent < int(elapsed * rate):
            task = asyncio.create_task(refused(*await free.get()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)
    wall = time.monotonic() - started
    busy = meter.percent() / 100
    for _, writer in connections:
        writer.close()
    return (busy - idle) / (answered / wall) * 1e6


async def _run(options: argparse.Namespace) -> None:
    pin_self(HELPER_CORE)
    with tempfile.TemporaryDirectory(prefix="dispatchwire-refusals-") as tmp:
        for round_ in range(1, options.rounds + 1):
            figures = [f"{mode} {cost:.1f}" for mode in MODES
                       if (cost := await _measure(mode, options.rate, options.seconds,
                                                  Path(tmp)))]
            print(f"round {round_}, {options.rate} refusals/s, µs of the server's core each: "
                  + ", ".join(figures), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        _serve(args[1])
        return
    parser = argparse.ArgumentParser(prog="python -m bench.refusals", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    uvloop.run(_run(parser.parse_args(args)))


if __name__ == "__main__":
    main()
