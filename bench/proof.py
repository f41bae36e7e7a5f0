"""How fast a healthy phone proves it got an offer, and how long a dead link holds one: the
figures behind DISPATCHWIRE_UNDELIVERED_TIMEOUT_S (docs/push.md, issue 24).

One server (SQLite, in this process's loop via uvicorn, as the tests run it) and N masters on
real sockets. Half are seed clients (no acks: the pong to the ping after each offer proves
receipt), half ack every event like the project's apps. Orders are placed at a steady rate;
for each offer the server's own record says when it was proven delivered. Printed: p50, p99
and max of offer made -> proven delivered, by `via`, and the wall time to place them all.

    .venv/bin/python -m bench.proof --masters 400 --orders 2000 --rate 200
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from websockets.asyncio.client import connect

from dispatchwire.app import create_app
from dispatchwire.http.server import uvicorn_config
from dispatchwire.settings import Settings

SECRET = "bench-secret-" + "x" * 40


async def run(masters: int, orders: int, rate: float) -> dict[str, dict[str, float]]:
    folder = Path(tempfile.mkdtemp())
    settings = Settings(database_url=f"sqlite:///{folder / 'bench.db'}", jwt_secret=SECRET,
                        argon2_time_cost=1, argon2_memory_kib=1024, log_level="warning",
                        masters_need_approval=False)  # ignored by builds without approval
    app = create_app(settings)
    config = uvicorn_config(app, settings, port=0, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # its error, if it failed to start
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        tokens = [await _register(http, f"m{n}", "master") for n in range(masters)]
        client = await _register(http, "client", "client")
        sockets = [asyncio.create_task(_master(port, http, token, acks=n % 2 == 0))
                   for n, token in enumerate(tokens)]
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        for n in range(orders):
            await http.post("/api/orders", headers={"Authorization": f"Bearer {client}"},
                            json={"applianceType": "oven", "problem": f"p{n}", "address": "1 St"})
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.perf_counter()))
        placing_s = time.perf_counter() - started
        await asyncio.sleep(2.0)
        by_via: dict[str, list[float]] = {}
        async with app.state.ctx.db.read() as sql:
            for via, made, delivered in await sql.rows(
                    "SELECT delivered_via, created_at, delivered_at FROM assignments"
                    " WHERE delivered_at IS NOT NULL"):
                seconds = (sql.read_time(delivered) - sql.read_time(made)).total_seconds()
                by_via.setdefault(via, []).append(seconds * 1000)
            undelivered = await sql.scalar("SELECT COUNT(*) FROM assignments"
                                           " WHERE delivered_at IS NULL")
        for task in sockets:
            task.cancel()
    server.should_exit = True
    await serving
    figures = {via: _summary(values) for via, values in by_via.items()}
    figures["run"] = {"placing_s": placing_s, "undelivered": float(undelivered or 0)}
    return figures


async def _register(http: httpx.AsyncClient, name: str, role: str) -> str:
    answer = await http.post("/api/auth/register", json={
        "email": f"{name}@example.com", "password": "bench password", "name": name,
        "role": role, **({"specializations": []} if role == "master" else {})})
    token: str = answer.json()["token"]
    if role == "master":
        await http.post("/api/masters/me/shift/start", headers={"Authorization": f"Bearer {token}"})
    return token


async def _master(port: int, http: httpx.AsyncClient, token: str, *, acks: bool) -> None:
    """A master who declines every offer a moment after it came (its receipt is what is
    measured; declining frees him for the next)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(f"ws://127.0.0.1:{port}/ws", ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token, "acks": acks}))
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe_assignments"}))
        async for raw in ws:
            frame = json.loads(raw)
            if acks and "eventId" in frame:
                await ws.send(json.dumps({"type": "ack", "eventId": frame["eventId"]}))
            if frame.get("type") == "new_assignment":
                await asyncio.sleep(0.2)  # the receipt (ack or pong) is long in by then
                offer_id = frame["assignment"]["id"]
                await http.post(f"/api/assignments/{offer_id}/reject", headers=headers)


def _summary(values_ms: list[float]) -> dict[str, float]:
    values_ms.sort()
    return {"count": len(values_ms), "p50_ms": statistics.median(values_ms),
            "p99_ms": values_ms[min(len(values_ms) - 1, int(len(values_ms) * 0.99))],
            "max_ms": values_ms[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masters", type=int, default=400)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--rate", type=float, default=100.0, help="orders a second")
    args = parser.parse_args()
    figures = asyncio.run(run(args.masters, args.orders, args.rate))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
