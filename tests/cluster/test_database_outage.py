"""PostgreSQL stopped for ten seconds, and started again, under load on two nodes.

The masters take about half the offers they get and let the rest expire, while a client
places orders, all through apps that retry a 503 after a short wait, as a phone app would. In
the middle PostgreSQL is shut down (`pg_ctl stop`) for OUTAGE_S. Meanwhile every request that
needs it is answered 503 with a `detail` and `Retry-After`, quickly, never a 500 or a trace;
`/ready` says 503; the sockets stay open. Once it is back, every order is completed, each
master's app has seen exactly its stored events, in order, each once, and every offer not
taken expired exactly once: the expiry loop carried on.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.support import Cluster, User, UserApp, replay
from tests.cluster.test_faults import TIMEOUT_S, Workload, _check_app
from tests.conftest import fresh_database, wait_for
from tests.pg import PostgresServer
from tests.redis import RedisServer

OUTAGE_S = 10.0
ANSWER_WITHIN_S = 5.0  # every answer, 503s included: nobody hangs on the missing database
ORDERS = 30

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def two_nodes(breakable_pg: PostgresServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    redis = RedisServer().start()
    cluster = Cluster(database_url=await fresh_database(breakable_pg), redis=redis,
                      tmp_path=tmp_path, nodes=2,
                      env={"DISPATCHWIRE_ASSIGNMENT_TIMEOUT_S": str(TIMEOUT_S),
                           "DISPATCHWIRE_EXPIRY_MAX_SLEEP_S": "2"})
    try:
        yield await cluster.start()
    finally:
        await cluster.stop()
        redis.stop()


class PatientWorkload(Workload):
    """The masters' behaviour, through apps that wait and retry on a 503; every answer kept."""

    def __init__(self, cluster: Cluster, seed: int) -> None:
        super().__init__(cluster, seed)
        self.answers: list[tuple[float, httpx.Response]] = []  # (seconds it took, answer)

    async def request(self, method: str, path: str, who: User,
                      **kwargs: Any) -> httpx.Response:
        for _ in range(int(4 * OUTAGE_S / 0.2)):
            started = time.monotonic()
            response = await super().request(method, path, who, **kwargs)
            self.answers.append((time.monotonic() - started, response))
            if response.status_code != 503:
                return response
            await asyncio.sleep(0.2)  # shorter than Retry-After: the test has no time to lose
        raise AssertionError(f"{method} {path}: still 503 long after the database came back")


async def readiness(cluster: Cluster) -> list[httpx.Response]:
    return [await cluster.http.get(node.url + "/ready") for node in cluster.nodes]


async def test_postgresql_stopped_under_load_is_503_then_loses_nothing(
        two_nodes: Cluster, breakable_pg: PostgresServer) -> None:
    cluster = two_nodes
    admin = await cluster.admin()
    workload = PatientWorkload(cluster, seed=11)
    masters = [await cluster.master() for _ in range(8)]
    apps = [await UserApp(cluster, m, node=i % 2, on_offer=workload.on_offer).start()
            for i, m in enumerate(masters)]
    client = await cluster.register("client")
    body = {"applianceType": "washing_machine", "problem": "leaks", "address": "1 Main St"}

    async def place_orders() -> None:
        for _ in range(ORDERS):
            response = await workload.request("POST", "/api/orders", client, json=body)
            assert response.status_code == 201, response.text
            await asyncio.sleep(0.15)

    placing = asyncio.create_task(place_orders())
    await asyncio.sleep(1.0)
    await asyncio.to_thread(breakable_pg.shut_down)
    try:
        down_at = time.monotonic()
        await asyncio.sleep(1.0)
        not_ready = await readiness(cluster)
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        during = len(workload.answers)
    finally:
        await asyncio.to_thread(breakable_pg.start_again)

    back_at = time.monotonic()
    await placing
    await wait_for(lambda: _all_completed(workload, admin), within=60, interval=0.3)
    settled_s = time.monotonic() - back_at
    await wait_for(lambda: _all_ready(cluster), within=10)
    await asyncio.sleep(0.5)  # the last events on their way
    for node in (0, 1):  # presence went on meanwhile: every socket still counted
        assert (await cluster.stats(admin, node))["totalSubscribed"] == len(masters)

    for answer in not_ready:
        assert answer.status_code == 503, answer.text
        assert answer.json()["database"] != "ok" and answer.json()["broker"] == "ok"
        assert "database" in answer.json()["detail"]
    refused = [r for _, r in workload.answers[:during] if r.status_code == 503]
    assert len(refused) >= 10, "the load did not meet the outage"
    for answer in refused:
        assert answer.headers["content-type"] == "application/json"
        assert int(answer.headers["retry-after"]) > 0
        assert "database" in answer.json()["detail"], answer.text
        assert "Traceback" not in answer.text and "asyncpg" not in answer.text
    # (404: a master reading an order that another master took, after his accept's 409)
    statuses = {r.status_code for _, r in workload.answers}
    assert statuses <= {200, 201, 404, 409, 503}, statuses  # never a 500
    slowest = max(took for took, _ in workload.answers)
    assert slowest < ANSWER_WITHIN_S, f"an answer took {slowest:.1f} s"
    print(f"\n{len(refused)} answers 503 during the {OUTAGE_S:.0f} s outage, slowest answer "
          f"{slowest * 1000:.0f} ms; every order completed {settled_s:.1f} s after PostgreSQL "
          f"was back; offers taken {len(workload.taken)}")
    for app in apps:
        assert app.reconnects == 0, "a socket was dropped during the outage"
        await app.stop()
        _check_app(app, await replay(cluster, app.user), workload.taken)


async def _all_completed(workload: Workload, admin: User) -> bool:
    response = await workload.request("GET", "/api/orders", admin)
    orders = response.json()
    return len(orders) >= ORDERS and all(o["status"] == "completed" for o in orders)


async def _all_ready(cluster: Cluster) -> bool:
    return all(answer.status_code == 200 for answer in await readiness(cluster))
