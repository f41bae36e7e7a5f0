"""`GET /api/admin/websocket/stats` covers every node, and forgets a dead one in bounded time."""

import asyncio
import time

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
    assert gone_after <= 3 * PRESENCE_INTERVAL_S + 1.5, gone_after
    assert stats["totalSubscribed"] == 4
    assert not on_node_2 & {s["masterId"] for s in stats["subscriptions"]}
    assert (await cluster.stats(admin, 1))["totalConnected"] == 5
    await asyncio.gather(*(app.stop() for app in [*apps, watcher]))


async def _stats_when(cluster: Cluster, admin: User, node: int, *, connected: int) -> object:
    stats = await cluster.stats(admin, node)
    return stats if stats["totalConnected"] == connected else None
