"""Fan-out across nodes: three masters on different nodes accept one order at once through
different nodes; the database lets exactly one win. Deactivating a master on one node closes
his socket on another."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.cluster.support import Cluster, UserApp
from tests.conftest import wait_for
from tests.gateway.asyncapi import check_frame


@pytest.fixture
def cluster_env() -> dict[str, str]:
    return {"DISPATCHWIRE_OFFER_FANOUT": "3"}


async def test_concurrent_accepts_on_two_nodes_make_one_winner(cluster: Cluster) -> None:
    admin = await cluster.admin()
    masters = [await cluster.master() for _ in range(3)]
    apps = [await UserApp(cluster, master, node=i % 2).start()
            for i, master in enumerate(masters)]
    client = await cluster.register("client")
    order = await cluster.order(client)

    async def offered() -> bool:
        return all(any(f["type"] == "new_assignment" for f in app.frames) for app in apps)

    await wait_for(offered, within=10)
    offers = [next(f["assignment"] for f in app.frames if f["type"] == "new_assignment")
              for app in apps]
    assert {offer["orderId"] for offer in offers} == {order["id"]}
    answers = await asyncio.gather(*(
        cluster.call("POST", f"/api/assignments/{offers[i]['id']}/accept", masters[i],
                     node=i % 2, expect=None) for i in range(3)))
    winners = [i for i, answer in enumerate(answers) if "order" in answer]
    assert len(winners) == 1, answers
    assert sum("no longer pending" in str(answer.get("detail")) for answer in answers) == 2

    async def told() -> bool:
        return all(any(f["type"] == "assignment_expired" for f in apps[i].frames)
                   for i in range(3) if i != winners[0])

    await wait_for(told, within=10)
    for i, app in enumerate(apps):
        ended = [(f["assignmentId"], f.get("reason")) for f in app.frames
                 if f["type"] == "assignment_expired"]
        assert ended == ([] if i == winners[0] else [(offers[i]["id"], "taken")])
    seen = await cluster.call("GET", f"/api/orders/{order['id']}", client)
    assert (seen["status"], seen["masterId"]) == ("assigned", masters[winners[0]].master_id)
    steps = await cluster.call("GET", f"/api/admin/orders/{order['id']}/timeline", admin)
    kinds = [s["kind"] for s in steps if s["kind"] not in ("sent", "delivered")]
    assert kinds == ["placed", "offered", "offered", "offered", "accepted", "status",
                     "expired", "expired"]
    await asyncio.gather(*(app.stop() for app in apps))


async def test_deactivating_on_one_node_closes_the_socket_on_another(cluster: Cluster) -> None:
    admin = await cluster.admin()
    master = await cluster.master()
    async with connect(cluster.ws_url(1), open_timeout=5) as conn:
        await conn.send(json.dumps({"type": "auth", "token": master.token}))
        assert json.loads(await conn.recv())["type"] == "auth_success"
        await cluster.call("PATCH", f"/api/admin/masters/{master.master_id}", admin, node=0,
                           json={"active": False})
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                while True:
                    frames.append(json.loads(await conn.recv()))
                    check_frame(frames[-1])
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert [f["type"] for f in frames] == ["auth_error"]
    refused = await cluster.call("POST", "/api/auth/login", node=2, expect=403,
                                 json={"email": master.email,
                                       "password": "correct horse battery"})
    assert "deactivated" in refused["detail"]
