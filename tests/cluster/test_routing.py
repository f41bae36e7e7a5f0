"""Masters spread over three nodes; orders placed on random nodes; offers cross the broker."""

import asyncio
import random

from tests.cluster.support import Cluster, UserApp
from tests.conftest import wait_for


async def test_every_offer_reaches_its_master_once_whichever_node_holds_the_socket(
        cluster: Cluster) -> None:
    admin = await cluster.admin()
    # Masters without a socket, idle longest: without a cluster-wide view of presence, a node
    # would rank them above the masters whose sockets are on other nodes.
    idle = [await cluster.master() for _ in range(12)]
    connected = [await cluster.master() for _ in range(12)]
    apps = [await UserApp(cluster, m, node=i % 3).start() for i, m in enumerate(connected)]
    for node in range(3):  # every node sees all 12 subscriptions before orders come
        await wait_for(lambda n=node: _subscribed(cluster, admin, n, 12), within=5)

    client = await cluster.register("client")
    orders = await asyncio.gather(*(cluster.order(client) for _ in range(12)))
    await wait_for(lambda: _all_offered(apps), within=10)
    await asyncio.sleep(0.5)  # room for a duplicate to show up

    for app in apps:
        offers = [f for f in app.frames if f["type"] == "new_assignment"]
        assert len(offers) == 1, (app.user.master_id, app.frames)
        pending = await cluster.call("GET", "/api/assignments/pending", app.user)
        assert [p["id"] for p in pending] == [offers[0]["assignment"]["id"]]
    assert {app.frames[0]["assignment"]["orderId"] for app in apps} == {o["id"] for o in orders}
    for master in idle:
        assert await cluster.call("GET", "/api/assignments/pending", master) == []
    await asyncio.gather(*(app.stop() for app in apps))


async def test_a_status_change_on_one_node_reaches_the_client_on_another(
        cluster: Cluster) -> None:
    master = await cluster.master()
    app = await UserApp(cluster, master, node=0).start()
    client = await cluster.register("client")
    watcher = await UserApp(cluster, client, node=2, subscribe=False).start()
    order = await cluster.order(client)
    await wait_for(lambda: _true(len(app.frames) == 1), within=5)
    offer = app.frames[0]["assignment"]
    await cluster.call("POST", f"/api/assignments/{offer['id']}/accept", master, node=1)
    for status in ("in_progress", "completed"):
        await cluster.call("POST", f"/api/orders/{order['id']}/status", master,
                           node=random.choice([0, 1]), json={"status": status})
    await wait_for(lambda: _true(len(watcher.frames) == 3), within=5)
    assert [(f["orderId"], f["status"]) for f in watcher.frames] == [
        (order["id"], "assigned"), (order["id"], "in_progress"), (order["id"], "completed")]
    await app.stop()
    await watcher.stop()


async def _subscribed(cluster: Cluster, admin: object, node: int, count: int) -> bool:
    stats = await cluster.stats(admin, node)  # type: ignore[arg-type]
    return bool(stats["totalSubscribed"] == count)


async def _all_offered(apps: list[UserApp]) -> bool:
    return all(app.frames for app in apps)


async def _true(value: bool) -> bool:
    return value
