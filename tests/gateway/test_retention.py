"""Resuming after retention, on real sockets: `auth_success` says whether every event after the
`lastEventId` is replayed (`recovered: true`) or some were deleted (`false`: nothing replayed,
live from the newest on); one from just before the oldest kept event loses nothing."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from dispatchwire.clock import utcnow
from dispatchwire.events.retention import delete_expired_events
from dispatchwire.gateway.hub import Hub
from tests.conftest import Api, Person
from tests.gateway.support import Live, WsClient
from tests.gateway.test_resume import events, placed_and_cancelled


async def delete_older_than(api: Api, moment: datetime) -> int:
    """Run retention as if `moment` were the retention's age ago: events before it go."""
    return await delete_expired_events(
        api.ctx, now=moment + timedelta(seconds=api.ctx.settings.event_retention_s))


async def old_and_new(api: Api, who: Person, *, old: int, new: int) -> datetime:
    """`old` events for `who`, then `new` ones; the moment between them."""
    for _ in range(old):
        await placed_and_cancelled(api, who)
    await asyncio.sleep(0.01)
    between = utcnow()
    await asyncio.sleep(0.01)
    for _ in range(new):
        await placed_and_cancelled(api, who)
    return between


async def authed(live: Live, who: Person, **fields: Any) -> tuple[WsClient, dict[str, Any]]:
    ws = await live.socket().connect()
    return ws, await ws.auth(who, **fields)


async def test_a_resume_needing_deleted_events_is_not_recovered_and_replays_nothing(
        live_any: Live) -> None:
    api = live_any.api
    client = await api.register("client")
    between = await old_and_new(api, client, old=3, new=3)  # events 1-3 old, 4-6 new
    assert await delete_older_than(api, between) == 3

    sockets = {}
    for name, fields in (("from 0", {"lastEventId": 0}), ("from 2", {"lastEventId": 2}),
                         ("before the oldest kept", {"lastEventId": 3}),
                         ("from the newest", {"lastEventId": 6}), ("no lastEventId", {})):
        sockets[name] = await authed(live_any, client, **fields)
    try:
        frames = {name: answer for name, (_, answer) in sockets.items()}
        assert frames["from 0"]["recovered"] is False
        assert frames["from 2"]["recovered"] is False
        assert frames["before the oldest kept"]["recovered"] is True
        assert frames["from the newest"]["recovered"] is True
        assert "recovered" not in frames["no lastEventId"]

        kept = sockets["before the oldest kept"][0]
        replay = [await kept.recv() for _ in range(3)]
        assert [f["eventId"] for f in replay] == [4, 5, 6]  # everything after it, once
        for ws, _ in sockets.values():
            await ws.no_frame(0.3)  # the others replay nothing
        order = await placed_and_cancelled(api, client)  # event 7: live for all of them
        for name, (ws, _) in sockets.items():
            assert events([await ws.recv()]) == [{
                "type": "order_status_update", "eventId": 7, "orderId": order["id"],
                "status": "cancelled"}], name
            await ws.no_frame(0.1)
    finally:
        for ws, _ in sockets.values():
            await ws.close()


async def test_a_master_not_recovered_gets_offers_live_as_a_resume_does(live_any: Live) -> None:
    api = live_any.api
    master = await api.master()
    client = await api.register("client")
    order = await api.order(client)  # event 1: its offer
    await api.call("POST", f"/api/orders/{order['id']}/status", client,
                   json={"status": "cancelled"})  # event 2: withdrawn
    assert await delete_older_than(api, utcnow()) == 3  # the master's two, the client's one

    ws, answer = await authed(live_any, master, lastEventId=1)  # no subscribe_assignments
    async with ws:
        assert answer["recovered"] is False
        await ws.no_frame(0.3)
        again = await api.order(client)
        frame = await ws.recv()
        assert (frame["type"], frame["eventId"]) == ("new_assignment", 3)
        assert frame["assignment"]["orderId"] == again["id"]
        # What it missed comes by REST: the pending offers are those of now.
        assert [o["orderId"] for o in await api.pending(master)] == [again["id"]]


@pytest.mark.parametrize("deleted", ["some", "all"])
async def test_events_deleted_between_the_answer_and_the_replay_close_the_socket(
        live: Live, monkeypatch: pytest.MonkeyPatch, deleted: str) -> None:
    """Retention running just as a socket resumes: told `recovered: true`, its replay finds
    the events gone. It is closed (1011) rather than left with a hole, and resuming again it
    hears `recovered: false`."""
    api = live.api
    client = await api.register("client")
    between = await old_and_new(api, client, old=3, new=3 if deleted == "some" else 0)
    cutoff = between if deleted == "some" else utcnow()
    judge = Hub.recoverable

    async def retention_runs_meanwhile(hub: Hub, user_id: int, *, after: int) -> bool:
        answer = await judge(hub, user_id, after=after)
        await delete_older_than(api, cutoff)
        return answer

    monkeypatch.setattr(Hub, "recoverable", retention_runs_meanwhile)
    ws, answer = await authed(live, client, lastEventId=0)
    assert answer["recovered"] is True
    code, reason = await ws.closed()
    assert code == 1011 and "deleted" in reason
    assert events(ws.received) == []  # nothing of what came after the hole

    monkeypatch.setattr(Hub, "recoverable", judge)
    again, answer = await authed(live, client, lastEventId=0)
    async with again:
        assert answer["recovered"] is False
        await again.no_frame(0.3)
