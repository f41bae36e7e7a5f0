"""The seed's manual checklist over a real socket: connect, auth, subscribe, ping, offer, expiry."""

import time

from tests.gateway.support import Live


async def test_an_admins_test_order_reaches_the_subscribed_master_at_once(live: Live) -> None:
    api = live.api
    master = await api.master(specializations=["washing_machine"])
    admin = await api.admin()
    async with await live.master_socket(master) as ws:
        await ws.send({"type": "ping"})
        assert (await ws.recv())["type"] == "pong"
        started = time.perf_counter()
        order = await api.order(admin)
        offer = await ws.recv(timeout=5.0)
        elapsed = time.perf_counter() - started

    assert offer["type"] == "new_assignment"
    assert offer["assignment"]["orderId"] == order["id"]
    assert elapsed < 2.0  # on a loaded 2-core machine; `make bench` measures the < 1 s target
