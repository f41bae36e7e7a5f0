"""Delivery when the broker hands events over late or out of order: the database fills the gap."""

import asyncio
import contextlib
from typing import Any

from websockets.exceptions import ConnectionClosed

from dispatchwire.events.types import StoredEvent
from tests.conftest import Api, Person, fresh_database, make_settings, wait_for
from tests.gateway.conftest import FAST
from tests.gateway.support import Live, serving
from tests.pg import PostgresServer


async def emit_cancelled(api: Api, client: Person, order_id: int) -> None:
    """Store and publish one event for `client`, as the services do."""
    async with api.ctx.db.transaction() as uow:
        api.ctx.outbox.emit(uow, client.id, "order_status_update",
                            {"orderId": order_id, "status": "cancelled"})


async def test_an_event_published_after_a_later_one_arrives_once_and_in_order(live: Live) -> None:
    api = live.api
    client = await api.register("client")
    order = await api.order(client)
    publish = api.ctx.outbox.publish
    assert publish is not None
    held: list[list[StoredEvent]] = []
    release = asyncio.Event()

    async def hold_back_the_first(events: list[StoredEvent]) -> None:
        if not held:  # the first transaction's publish is late, as on a busy broker
            held.append(events)
            await release.wait()
        await publish(events)

    async with live.socket() as ws:
        await ws.auth(client)
        api.ctx.outbox.publish = hold_back_the_first
        try:
            first = asyncio.create_task(emit_cancelled(api, client, order["id"]))
            await asyncio.sleep(0.05)
            await emit_cancelled(api, client, order["id"])  # committed after, published first
            frames = [await ws.recv(), await ws.recv()]
            release.set()
            await first
            await ws.no_frame(0.3)
        finally:
            api.ctx.outbox.publish = publish

    ids = [frame["eventId"] for frame in frames]
    assert ids[1] == ids[0] + 1


async def test_events_the_broker_never_delivered_are_read_from_the_database(live: Live) -> None:
    api = live.api
    client = await api.register("client")
    order = await api.order(client)
    publish = api.ctx.outbox.publish
    assert publish is not None
    lost = 0

    async def lose_three(events: list[StoredEvent]) -> None:
        nonlocal lost
        if lost < 3:
            lost += 1
            return
        await publish(events)

    async with live.socket() as ws:
        await ws.auth(client)
        await emit_cancelled(api, client, order["id"])
        start = (await ws.recv())["eventId"]
        api.ctx.outbox.publish = lose_three
        try:
            for _ in range(4):  # three are lost on the way; the fourth reveals the gap
                await emit_cancelled(api, client, order["id"])
        finally:
            api.ctx.outbox.publish = publish
        ids = [(await ws.recv())["eventId"] for _ in range(4)]
        await ws.no_frame(0.3)

    assert ids == [start + 1, start + 2, start + 3, start + 4]



async def test_a_failed_read_of_stored_events_closes_the_socket_for_a_resume(
        breakable_pg: PostgresServer) -> None:
    """The database really gone as a socket resumes: closed (1011), not left open and silent;
    once it is back the client resumes and gets everything."""
    settings = make_settings(await fresh_database(breakable_pg), **FAST)
    async with serving(settings) as live:
        api = live.api
        client = await api.register("client")
        order = await api.order(client)
        await emit_cancelled(api, client, order["id"])
        async with live.socket() as ws:
            await ws.auth(client)  # who the client is, read now: the resume below must read
            await ws.send({"type": "ping"})  # the stored events, and cannot; and the pong
            assert (await ws.recv())["type"] == "pong"  # says this socket's reads are done
            await asyncio.to_thread(breakable_pg.shut_down)
            try:
                async with live.socket() as resuming:
                    await resuming.send({"type": "auth", "token": client.token,
                                         "lastEventId": 0})
                    code, _ = await resuming.closed()
                await ws.send({"type": "ping"})  # the socket that needs no read stays open
                assert (await ws.recv())["type"] == "pong"
            finally:
                await asyncio.to_thread(breakable_pg.start_again)
        assert code == 1011  # not left open and silent: the client reconnects and resumes

        async def replayed() -> dict[str, Any] | None:
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with live.socket() as again:
                    await again.auth(client, lastEventId=0)
                    return await again.recv()
            return None  # the pool's connections are still coming back

        first = await wait_for(replayed, within=10, interval=0.2)
    assert first["eventId"] == 1
