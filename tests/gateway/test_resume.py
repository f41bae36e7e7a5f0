"""Resume: a socket that comes back with `lastEventId` gets every stored event after it, oldest
first, exactly once, and then goes on live, even while events are being committed concurrently
(on PostgreSQL, by transactions that commit in any order) and while its replay is still running.
"""

import asyncio
import contextlib
import random
from typing import Any

import pytest
from sqlalchemy import select

from dispatchwire.auth.models import User
from dispatchwire.dispatch.models import Assignment
from dispatchwire.events.stream import list_events
from dispatchwire.events.types import StoredEvent
from dispatchwire.gateway import hub
from tests.conftest import Api, Person, wait_for
from tests.dispatch.support import events_of, move, reject
from tests.gateway.support import Live, WsClient


async def newest_event_id(api: Api, who: Person) -> int:
    async with api.ctx.db.session() as session:
        return await session.scalar(select(User.last_event_id).where(User.id == who.id)) or 0


def events(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frames that carry a stored event (answers such as `pong` carry none)."""
    return [f for f in frames if "eventId" in f]


def event_ids(ws: WsClient) -> list[int]:
    return [f["eventId"] for f in events(ws.received)]


class Reader:
    """Reads a socket in the background (every frame lands in `ws.received`) until stopped."""

    def __init__(self, ws: WsClient) -> None:
        self.ws = ws
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            await self.ws.recv(timeout=60)

    async def until(self, event_id: int, within: float = 15.0) -> None:
        """Wait until the frame of `event_id` has arrived; a failed read is raised here."""
        async def arrived() -> bool:
            if self.task.done():
                self.task.result()
                raise AssertionError(f"the socket stopped before event {event_id}")
            return event_id in event_ids(self.ws)

        await wait_for(arrived, within=within)

    async def stop(self) -> None:
        """Stop reading; then nothing more may arrive (no late duplicate) before closing."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.ws.no_frame(0.2)
        await self.ws.close()


async def resumed(live: Live, who: Person, after: int) -> WsClient:
    ws = await live.socket().connect()
    await ws.auth(who, lastEventId=after)
    return ws


async def placed_and_cancelled(api: Api, client: Person) -> dict[str, Any]:
    """One order, cancelled while it searches: one `order_status_update` for its client."""
    order = await api.order(client)
    await move(api, client, order, "cancelled")
    return order


# -- replay ---------------------------------------------------------------------------------


async def test_reconnecting_replays_what_was_missed_oldest_first_exactly_as_sent_live(
        live: Live) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    async with await live.master_socket(master) as first:
        for _ in range(3):  # three offers seen live (events 1..3), each declined
            await api.order(client)
            offer = await first.recv()
            await reject(api, master, offer["assignment"])
    seen = events(first.received)
    # Away: an offer (4) withdrawn by a cancel (5), and another offer (6).
    await placed_and_cancelled(api, client)
    last = await api.order(client)
    missed = await events_of(api, master, after=1)

    async with await resumed(live, master, after=1) as again:
        replay = [await again.recv() for _ in range(5)]
        await again.no_frame(0.3)
        await move(api, client, last, "cancelled")  # live once the replay is done
        after_replay = await again.recv()
        await again.no_frame(0.2)

    assert [f["eventId"] for f in seen] == [1, 2, 3]
    assert [f["eventId"] for f in replay] == [2, 3, 4, 5, 6]
    assert replay[:2] == seen[1:]  # the frames seen live, again, identical
    assert [f["type"] for f in replay[2:]] == ["new_assignment", "assignment_expired",
                                               "new_assignment"]
    assert replay == missed
    assert after_replay["type"] == "assignment_expired"
    assert after_replay["eventId"] == 7
    assert after_replay["assignmentId"] == replay[-1]["assignment"]["id"]


async def test_last_event_id_zero_replays_everything_and_one_past_the_newest_is_from_now(
        live: Live) -> None:
    api = live.api
    client = await api.register("client")
    for _ in range(5):
        await placed_and_cancelled(api, client)
    stored = await events_of(api, client)

    fresh = await live.socket().connect()
    await fresh.auth(client)  # no lastEventId: from now
    async with fresh, await resumed(live, client, after=0) as whole, \
            await resumed(live, client, after=10**6) as ahead:
        replay = [await whole.recv() for _ in range(5)]
        await whole.no_frame(0.3)
        await ahead.no_frame(0.05)
        await fresh.no_frame(0.05)
        order = await placed_and_cancelled(api, client)
        after_replay = [await ws.recv() for ws in (whole, ahead, fresh)]
        for ws in (whole, ahead, fresh):
            await ws.no_frame(0.1)

    assert [f["eventId"] for f in stored] == [1, 2, 3, 4, 5]
    assert replay == stored
    expected = {"type": "order_status_update", "eventId": 6, "orderId": order["id"],
                "status": "cancelled"}
    assert after_replay == [expected] * 3


# -- resuming while events are committed concurrently ----------------------------------------


async def test_sockets_resuming_while_producers_run_get_every_event_once_in_order(
        live_any: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    api = live_any.api
    client = await api.register("client")
    publish_late(api, monkeypatch)  # commits reach the sockets out of order, now and then

    async def produce(count: int) -> None:
        for _ in range(count):
            await placed_and_cancelled(api, client)

    producers = [asyncio.create_task(produce(40)) for _ in range(3)]
    readers: list[tuple[int, Reader]] = []
    for threshold, back in ((10, None), (30, 18), (50, 0), (70, 5)):
        # Resume from 0, from an id well behind, from the newest, and from just behind it.
        await wait_for(lambda t=threshold: _reached(api, client, t), within=20)
        newest = await newest_event_id(api, client)
        after = 0 if back is None else max(0, newest - back)
        readers.append((after, Reader(await resumed(live_any, client, after=after))))
    still_running = not all(p.done() for p in producers)
    await asyncio.gather(*producers)
    final = await newest_event_id(api, client)
    for _, reader in readers:
        await reader.until(final)
        await reader.stop()

    assert still_running, "the producers ended before the last socket resumed"
    assert final == 120
    for after, reader in readers:
        ids = event_ids(reader.ws)
        assert ids == list(range(after + 1, final + 1)), (after, _anomalies(ids, after, final))


@pytest.mark.parametrize("settings_overrides", [{"assignment_timeout_s": 0.6}])
async def test_a_master_resuming_while_offers_come_and_go_gets_every_event_once_in_order(
        live_any: Live) -> None:
    api = live_any.api
    master = await api.master()
    clients = [await api.register("client") for _ in range(3)]
    admin = await api.admin()
    answered: list[int] = []

    async def answer(ws: WsClient) -> None:
        """Decline each offer as it arrives; of every five, one is left to expire and one is
        withdrawn by an admin cancelling its order."""
        offers = 0
        while True:
            frame = await ws.recv(timeout=60)
            if frame["type"] != "new_assignment":
                continue
            offers += 1
            offer = frame["assignment"]
            if offers % 5 == 0:
                continue
            if offers % 5 == 3:
                response = await api.client.post(f"/api/orders/{offer['orderId']}/status",
                                                 json={"status": "cancelled"},
                                                 headers=admin.headers)
            else:
                response = await api.client.post(f"/api/assignments/{offer['id']}/reject",
                                                 headers=master.headers)
            assert response.status_code in (200, 409), response.text  # 409: cancelled meanwhile
            answered.append(response.status_code)

    all_resumed = asyncio.Event()

    async def produce(client: Person) -> None:
        """Place orders, at least eight and until every reader has resumed (events must come
        and go while they do); cancel every third at once, often while it is offered."""
        n = 0
        while n < 8 or not all_resumed.is_set():
            order = await api.order(client)
            if n % 3 == 2:
                response = await api.client.post(f"/api/orders/{order['id']}/status",
                                                 json={"status": "cancelled"},
                                                 headers=client.headers)
                # 409: the admin in answer() cancelled it first, while it was offered
                assert response.status_code in (200, 409), response.text
            n += 1
            await asyncio.sleep(0.1)

    watched = await live_any.master_socket(master)
    answering = asyncio.create_task(answer(watched))
    producers = [asyncio.create_task(produce(c)) for c in clients]
    readers: list[tuple[int, Reader]] = []
    for threshold, after in ((3, 1), (7, 4)):
        await wait_for(lambda t=threshold: _reached(api, master, t), within=20)
        readers.append((after, Reader(await resumed(live_any, master, after=after))))
    still_running = not all(p.done() for p in producers)
    all_resumed.set()
    await asyncio.gather(*producers)

    async def settled() -> bool:
        if answering.done():
            answering.result()
        async with api.ctx.db.session() as session:  # GET pending hides overdue offers
            return not await session.scalar(select(Assignment.id).where(
                Assignment.master_id == master.master_id, Assignment.status == "pending"))

    await wait_for(settled, within=20)  # every order declined, expired or cancelled
    final = await newest_event_id(api, master)
    await wait_for(lambda: _has(watched, final), within=10)
    answering.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await answering
    await watched.no_frame(0.2)
    await watched.close()
    for _, reader in readers:
        await reader.until(final)
        await reader.stop()

    assert still_running, "the producers ended before the last socket resumed"
    kinds = {f["type"] for f in events(watched.received)}
    assert kinds == {"new_assignment", "assignment_expired"}
    assert event_ids(watched) == list(range(1, final + 1))
    stored = await events_of(api, master)
    for after, reader in readers:
        ids = event_ids(reader.ws)
        assert ids == list(range(after + 1, final + 1)), (after, _anomalies(ids, after, final))
        assert events(reader.ws.received) == stored[after:]
    assert answered.count(200) >= 10


def publish_late(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand each commit's events to the broker a random moment late, as a broker between
    processes may: events then reach the hub out of order, and after the replay read them."""
    rng = random.Random(5)
    publish = api.ctx.outbox.publish
    assert publish is not None

    async def late(stored: list[StoredEvent]) -> None:
        await asyncio.sleep(rng.uniform(0, 0.01))
        await publish(stored)

    monkeypatch.setattr(api.ctx.outbox, "publish", late)


async def _reached(api: Api, who: Person, event_id: int) -> bool:
    return await newest_event_id(api, who) >= event_id


async def _has(ws: WsClient, event_id: int) -> bool:
    return event_id in event_ids(ws)


def _anomalies(ids: list[int], after: int, final: int) -> dict[str, Any]:
    """What is wrong with a socket's ids, for the failure message."""
    return {"missing": sorted(set(range(after + 1, final + 1)) - set(ids)),
            "duplicates": sorted({i for i in ids if ids.count(i) > 1}),
            "unordered": ids != sorted(ids), "count": len(ids)}


# -- the replay racing other frames ---------------------------------------------------------


async def test_auth_subscribe_and_ping_sent_back_to_back_lose_no_frame(live: Live) -> None:
    api = live.api
    master = await api.master()
    client = await api.register("client")
    for _ in range(4):  # offers declined while away: events 1..4
        await api.order(client)
        await reject(api, master, (await api.pending(master))[0])
    await placed_and_cancelled(api, client)  # offered (5), then withdrawn (6)
    stored = await events_of(api, master)
    admin = await api.admin()

    async with await live.socket().connect() as ws:
        await ws.send({"type": "auth", "token": master.token, "lastEventId": 0})
        await ws.send({"type": "subscribe_assignments"})
        await ws.send({"type": "ping"})
        frames = [await ws.recv() for _ in range(3 + len(stored))]
        await ws.no_frame(0.3)
        stats = await api.call("GET", "/api/admin/websocket/stats", admin)

    assert frames[0]["type"] == "auth_success"
    assert frames[0]["masterId"] == master.master_id
    answers = [f["type"] for f in frames[1:] if "eventId" not in f]
    assert sorted(answers) == ["pong", "subscribed_assignments"]
    assert events(frames) == stored
    assert [f["eventId"] for f in stored] == [1, 2, 3, 4, 5, 6]
    assert stats["totalSubscribed"] == 1
    assert [s["masterId"] for s in stats["subscriptions"] if s["subscribed"]] == [master.master_id]


async def test_live_events_committed_during_a_long_replay_arrive_once_and_in_order(
        live: Live) -> None:
    api = live.api
    client = await api.register("client")
    order = await placed_and_cancelled(api, client)  # event 1, and a real order to talk about
    payload = {"orderId": order["id"], "status": "cancelled"}
    emitted = 0

    stop = asyncio.Event()

    async def emit(transactions: int, per_transaction: int) -> None:
        nonlocal emitted
        for _ in range(transactions):
            if stop.is_set():
                return
            async with api.ctx.db.transaction() as uow:
                for _ in range(per_transaction):
                    api.ctx.outbox.emit(uow, client.id, "order_status_update", payload)
            emitted += per_transaction
            await asyncio.sleep(0)  # each commit waits a pass of the loop: a steady trickle

    await emit(60, 25)  # a backlog of 1,501 events: three pages of the replay and a part
    backlog = await newest_event_id(api, client)
    trickle = asyncio.create_task(emit(100_000, 1))  # until the replay is done
    await asyncio.sleep(0.01)
    async with await live.socket().connect() as ws:
        at_auth = emitted
        await ws.auth(client, lastEventId=0)
        reader = Reader(ws)
        await reader.until(backlog)
        at_backlog_end = emitted
        await asyncio.sleep(0.05)  # and a little more, live
        stop.set()
        await trickle
        final = await newest_event_id(api, client)
        await reader.until(final)
        await reader.stop()
    async with await resumed(live, client, after=0) as quiet:  # no live event to lean on now
        quiet_reader = Reader(quiet)
        await quiet_reader.until(final)
        await quiet_reader.stop()

    assert backlog == 1501
    assert final == backlog + emitted - 1500
    assert at_backlog_end > at_auth, "no live event was committed while the replay ran"
    ids = event_ids(ws)
    assert ids == list(range(1, final + 1)), _anomalies(ids, 0, final)
    assert all(f == {"type": "order_status_update", "eventId": f["eventId"], **payload}
               for f in events(ws.received))
    assert event_ids(quiet) == ids


async def test_an_event_committed_during_the_replays_last_read_is_sent_though_none_follows(
        live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay reads, the event commits, the replay sends what it read: then it must read
    once more before going live, for no later event will come to reveal the gap."""
    api = live.api
    client = await api.register("client")
    order = await placed_and_cancelled(api, client)
    payload = {"orderId": order["id"], "status": "cancelled"}
    for _ in range(9):
        await move_nowhere(api, client, payload)
    read, resume_reading = asyncio.Event(), asyncio.Event()

    async def held_read(sql: Any, **kwargs: Any) -> list[StoredEvent]:
        """The real read, held after its first run until the test lets it go on."""
        stored = await list_events(sql, **kwargs)
        if not read.is_set():
            read.set()
            await resume_reading.wait()
        return stored

    monkeypatch.setattr(hub, "list_events", held_read)
    async with await live.socket().connect() as ws:
        await ws.auth(client, lastEventId=0)
        async with asyncio.timeout(2):
            await read.wait()
        await move_nowhere(api, client, payload)  # event 11: read missed it, and none follows
        resume_reading.set()
        frames = [await ws.recv() for _ in range(11)]
        await ws.no_frame(0.3)

    assert [f["eventId"] for f in frames] == list(range(1, 12))


async def move_nowhere(api: Api, client: Person, payload: dict[str, Any]) -> None:
    """Store and publish one more `order_status_update` for `client`, as a service would."""
    async with api.ctx.db.transaction() as uow:
        api.ctx.outbox.emit(uow, client.id, "order_status_update", payload)
