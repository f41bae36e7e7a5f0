"""Delivery when the broker hands events over late or out of order: the database fills the gap."""

import asyncio

import pytest

from dispatchwire.events.types import StoredEvent
from dispatchwire.gateway import hub as hub_module
from tests.conftest import Api, Person
from tests.gateway.support import Live


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
        live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    api = live.api
    client = await api.register("client")
    order = await api.order(client)
    await emit_cancelled(api, client, order["id"])

    async def database_gone(*_args: object, **_kwargs: object) -> list[StoredEvent]:
        raise ConnectionError("database unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(hub_module, "list_events", database_gone)
        async with live.socket() as ws:
            await ws.auth(client, lastEventId=0)
            code, _ = await ws.closed()
    assert code == 1011  # not left open and silent: the client reconnects and resumes

    async with live.socket() as ws:
        await ws.auth(client, lastEventId=0)
        replayed = await ws.recv()
    assert replayed["eventId"] == 1
