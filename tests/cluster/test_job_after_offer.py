"""The job after the offer across nodes: the master's socket on one node, his client's on
another; the position (not stored: a transient message on Redis) and the chat (stored events)
reach the client, and the chat the master too."""

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.cluster.support import Cluster, User
from tests.gateway.asyncapi import check_frame


async def socket(cluster: Cluster, node: int, user: User) -> ClientConnection:
    conn = await connect(cluster.ws_url(node), open_timeout=5, ping_interval=None)
    await conn.send(json.dumps({"type": "auth", "token": user.token}))
    assert await next_frame(conn, "auth_success")
    return conn


async def next_frame(conn: ClientConnection, kind: str, within: float = 5.0) -> dict[str, Any]:
    """The next frame of type `kind` (each checked against the AsyncAPI), skipping others."""
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await conn.recv())
            check_frame(frame)
            if frame["type"] == kind:
                return frame


async def test_location_and_chat_cross_nodes(cluster: Cluster) -> None:
    master = await cluster.master()
    client = await cluster.register("client")
    order = await cluster.order(client)
    [offer] = await cluster.call("GET", "/api/assignments/pending", master, node=2)
    await cluster.call("POST", f"/api/assignments/{offer['id']}/accept", master, node=2)
    master_ws = await socket(cluster, 0, master)
    client_ws = await socket(cluster, 1, client)
    try:
        await master_ws.send(json.dumps({"type": "location", "lat": 59.9386, "lon": 30.3141}))
        frame = await next_frame(client_ws, "master_location")
        assert (frame["orderId"], frame["lat"], frame["lon"]) == (order["id"], 59.9386, 30.3141)
        seen = await cluster.call("GET", f"/api/orders/{order['id']}", client, node=2)
        assert seen["master"]["location"] == {"lat": 59.9386, "lon": 30.3141, "at": frame["at"]}

        sent = await cluster.call("POST", f"/api/orders/{order['id']}/messages", master, node=2,
                                  expect=201, json={"text": "Стою у подъезда"})
        assert (await next_frame(client_ws, "chat_message"))["message"] == sent
        assert (await next_frame(master_ws, "chat_message"))["message"] == sent
        reply = await cluster.call("POST", f"/api/orders/{order['id']}/messages", client,
                                   node=1, expect=201, json={"text": "Иду"})
        assert (await next_frame(master_ws, "chat_message"))["message"] == reply
    finally:
        await master_ws.close()
        await client_ws.close()
