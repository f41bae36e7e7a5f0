"""A socket that ends is freed at once, by reference counting, not left for the collector.

The soak found the server's memory growing by megabytes a minute while masters reconnected:
every ended socket was a reference cycle (the protocol and its Connection, websockets' parser
holding its protocol, deflate contexts included), and one old enough to sit in the oldest
generation waited for a full collection, which under such churn came every ~15 minutes.
"""

import asyncio
import gc

from websockets.server import ServerProtocol

from dispatchwire.gateway.connection import Connection
from dispatchwire.gateway.server import GatewayProtocol
from dispatchwire.gateway.ws import Session
from tests.gateway.support import Live

GATEWAY_TYPES = (GatewayProtocol, Connection, Session, ServerProtocol)


def cyclic_garbage() -> list[str]:
    """The gateway's objects that only the collector could free."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        # type(), not isinstance(): the garbage may hold dead weak proxies, which raise
        return [type(o).__name__ for o in gc.garbage if issubclass(type(o), GATEWAY_TYPES)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_ended_sockets_leave_no_cycle_behind(live: Live) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    cyclic_garbage()  # whatever earlier tests left
    for _ in range(3):  # authenticated, subscribed, acking an offer, then closed by the client
        ws = await live.master_socket(master)
        order = await api.order(client)
        offer = await ws.recv_until("new_assignment")
        await ws.send({"type": "ack", "eventId": offer["eventId"]})
        await api.call("POST", f"/api/orders/{order['id']}/status", client,
                       json={"status": "cancelled"})
        await ws.recv_until("assignment_expired")
        await ws.close()
    refused = await live.socket().connect()  # closed by the server (4401)
    await refused.send({"type": "auth", "token": "not a token"})
    assert (await refused.closed())[0] == 4401
    dropped = await live.socket().connect()  # its link gone without a close frame
    await dropped.auth(client)
    assert dropped.conn is not None
    dropped.conn.transport.abort()
    await asyncio.sleep(0.5)  # the server has seen every one of them end

    assert cyclic_garbage() == []
