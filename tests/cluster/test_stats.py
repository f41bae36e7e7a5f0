"""`GET /api/admin/websocket/stats` covers every node, and forgets a dead one in bounded time."""

import asyncio
import json
import time

from websockets.asyncio.client import connect

from tests.cluster.support import PRESENCE_INTERVAL_S, Cluster, User, UserApp
from tests.conftest import wait_for


async def test_stats_cover_every_node_and_drop_a_killed_one(cluster: Cluster) -> None:
    admin = await cluster.admin()
    masters = [await cluster.master() for _ in range(6)]
    apps = [await UserApp(cluster, m, node=i % 3).start() for i, m in enumerate(masters)]
    client = await cluster.register("client")
    watcher = await UserApp(cluster, client, node=1, subscribe=False).start()

    for node in range(3):
        stats = await wait_for(lambda n=node: _stats_when(cluster, admin, n, connected=7),
                               within=5)
        assert stats["totalSubscribed"] == stats["activeSubscriptions"] == 6
        assert stats["onShiftSubscriptions"] == 6
        assert {s["masterId"] for s in stats["subscriptions"]} == {m.master_id for m in masters}

    on_node_2 = {m.master_id for i, m in enumerate(masters) if i % 3 == 2}
    for app in apps:  # the apps would move to another node: here they stay away
        if app.node == 2:
            await app.stop()
    cluster.kill(2)
    killed_at = time.monotonic()
    stats = await wait_for(lambda: _stats_when(cluster, admin, 0, connected=5), within=5)
    gone_after = time.monotonic() - killed_at
    assert gone_after <= 3 * PRESENCE_INTERVAL_S + 3.0, gone_after  # slack: a loaded machine
    assert stats["totalSubscribed"] == 4
    assert not on_node_2 & {s["masterId"] for s in stats["subscriptions"]}
    assert (await cluster.stats(admin, 1))["totalConnected"] == 5
    await asyncio.gather(*(app.stop() for app in [*apps, watcher]))


async def _stats_when(cluster: Cluster, admin: User, node: int, *, connected: int) -> object:
    stats = await cluster.stats(admin, node)
    return stats if stats["totalConnected"] == connected else None


async def test_a_node_sigkilled_with_its_sockets_open_leaves_the_stats(cluster: Cluster) -> None:
    """No socket closes before the kill, so the dead node's last snapshot still counts them:
    only its expiry (three presence intervals) takes them out of every survivor's stats."""
    admin = await cluster.admin()
    masters = [await cluster.master() for _ in range(4)]
    sockets = []
    for i, master in enumerate(masters):  # plain sockets: nothing moves them elsewhere
        ws = await connect(cluster.ws_url(2 if i < 3 else 0), open_timeout=5, ping_interval=None)
        await ws.send(json.dumps({"type": "auth", "token": master.token}))
        await ws.send(json.dumps({"type": "subscribe_assignments"}))
        assert [json.loads(await ws.recv())["type"] for _ in range(2)] == [
            "auth_success", "subscribed_assignments"]
        sockets.append(ws)
    for node in (0, 1):
        await wait_for(lambda n=node: _stats_when(cluster, admin, n, connected=4), within=5)

    cluster.kill(2)  # SIGKILL with three sockets open: no goodbye to anyone
    killed_at = time.monotonic()
    stats = await wait_for(lambda: _stats_when(cluster, admin, 0, connected=1), within=5)
    gone_after = time.monotonic() - killed_at
    assert gone_after <= 3 * PRESENCE_INTERVAL_S + 3.0, gone_after  # slack: a loaded machine
    assert [s["masterId"] for s in stats["subscriptions"]] == [masters[3].master_id]
    assert (await cluster.stats(admin, 1))["totalSubscribed"] == 1
    for ws in sockets:
        await ws.close()
