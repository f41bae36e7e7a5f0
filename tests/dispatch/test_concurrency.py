"""Races around offers: concurrent accepts, concurrent dispatch, and answering a dead offer."""

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from dispatchwire.clock import utcnow
from dispatchwire.dispatch.models import Assignment
from dispatchwire.events.stream import list_events
from dispatchwire.masters.models import Master
from dispatchwire.orders.models import Order
from tests.conftest import Api, Person, make_settings, running_app, wait_for
from tests.dispatch.support import all_assignments, get_assignment


async def events_of(api: Api, who: Person) -> list[dict[str, Any]]:
    async with api.ctx.db.read() as sql:
        return [e.to_message() for e in await list_events(sql, user_id=who.id)]


def assert_one_pending_per_master_and_order(rows: list[Assignment]) -> None:
    pending = [a for a in rows if a.status == "pending"]
    per_master = Counter(a.master_id for a in pending)
    per_order = Counter(a.order_id for a in pending)
    assert max(per_master.values(), default=0) <= 1, per_master
    assert max(per_order.values(), default=0) <= 1, per_order


async def test_of_twenty_concurrent_accepts_exactly_one_wins(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(master)

    responses = await asyncio.gather(*(
        api.client.post(f"/api/assignments/{offer['id']}/accept", headers=master.headers)
        for _ in range(20)
    ))

    codes = Counter(r.status_code for r in responses)
    assert codes == {200: 1, 409: 19}, [r.text for r in responses if r.status_code != 409]
    [won] = [r.json() for r in responses if r.status_code == 200]
    assert won["order"]["status"] == "assigned"
    assert won["assignment"]["status"] == "accepted"

    seen = await api.call("GET", f"/api/orders/{order['id']}", client)
    assert seen["status"] == "assigned"
    assert seen["master"]["id"] == master.master_id
    assert (await get_assignment(api, offer["id"])).status == "accepted"

    client_events = await events_of(api, client)
    assert [(e["type"], e["status"]) for e in client_events] == [
        ("order_status_update", "assigned")]
    master_events = await events_of(api, master)
    assert [e["type"] for e in master_events] == ["new_assignment", "order_status_update"]


async def test_orders_placed_concurrently_never_double_book_a_master(api: Api) -> None:
    masters = [await api.master() for _ in range(6)]
    clients = [await api.register("client") for _ in range(3)]

    placed = await asyncio.gather(*(api.order(clients[i % len(clients)]) for i in range(18)))
    assert len({o["id"] for o in placed}) == 18

    rows = await all_assignments(api)
    assert_one_pending_per_master_and_order(rows)
    # Nobody answered, so every master got at most one offer and every order at most one...
    per_master = Counter(a.master_id for a in rows)
    assert max(per_master.values()) == 1, per_master
    assert max(Counter(a.order_id for a in rows).values()) == 1
    # ...and no master was left idle while orders wait: all six are busy with one offer each.
    assert {a.status for a in rows} == {"pending"}
    assert set(per_master) == {m.master_id for m in masters}
    for m in masters:
        assert len(await api.pending(m)) == 1
        assert [e["type"] for e in await events_of(api, m)] == ["new_assignment"]


async def test_shifts_started_while_orders_are_placed_leave_no_master_idle(api: Api) -> None:
    """A master going on shift and an order being placed at the same moment must still meet."""
    masters = [await api.master(on_shift=False) for _ in range(8)]
    clients = [await api.register("client") for _ in range(2)]

    async def start(master: Person) -> None:
        await api.call("POST", "/api/masters/me/shift/start", master)

    await asyncio.gather(*(start(m) for m in masters),
                         *(api.order(clients[i % 2]) for i in range(8)))

    rows = await all_assignments(api)
    assert_one_pending_per_master_and_order(rows)
    assert max(Counter(a.master_id for a in rows).values()) == 1
    # Eight masters who take anything and eight orders: once the dust settles, no order may
    # wait in `new` while an on-shift master sits idle (no offer, no job).
    async with api.ctx.db.session() as session:
        waiting = set(await session.scalars(select(Order.id).where(Order.status == "new")))
        on_shift = set(await session.scalars(select(Master.id).where(Master.on_shift)))
    assert on_shift == {m.master_id for m in masters}
    busy = {a.master_id for a in rows if a.status == "pending"}
    offered = {a.order_id for a in rows if a.status == "pending"}
    assert (waiting - offered, on_shift - busy) == (set(), set()), \
        "orders left waiting while on-shift masters are idle"
    assert len(offered) == 8


async def test_an_expired_offer_cannot_be_accepted(database_url: str) -> None:
    settings = make_settings(database_url, assignment_timeout_s=0.5)
    async with running_app(settings) as api:
        master = await api.master()
        client = await api.register("client")
        order = await api.order(client)
        async with api.ctx.db.read() as sql:  # pending, or on a slow machine already run out
            [(offer_id,)] = await sql.rows("SELECT id FROM assignments WHERE order_id = :id",
                                           {"id": order["id"]})
        offer = {"id": offer_id}

        async def expired() -> bool:
            return (await get_assignment(api, offer["id"])).status == "expired"

        await wait_for(expired, within=3)
        refused = await api.call("POST", f"/api/assignments/{offer['id']}/accept", master,
                                 expect=409)
        assert "expired" in refused["detail"]

        seen = await api.call("GET", f"/api/orders/{order['id']}", client)
        assert seen["status"] == "new"  # still searching: the only master let it run out
        assert seen["master"] is None
        assert await api.pending(master) == []
        events = await events_of(api, master)
        assert events[-1] == {"type": "assignment_expired", "eventId": 2,
                              "assignmentId": offer["id"], "reason": "timeout"}
        assert await events_of(api, client) == []


async def test_an_offer_past_its_deadline_is_refused_before_the_loop_claims_it(
        database_url: str) -> None:
    # Answering must check the deadline itself, not trust that the expiry loop has run: the
    # deadline is moved into the past behind the loop's back (it sleeps up to 60 s).
    settings = make_settings(database_url, expiry_max_sleep_s=60)
    async with running_app(settings) as api:
        master = await api.master()
        client = await api.register("client")
        await api.order(client)
        [offer] = await api.pending(master)
        async with api.ctx.db.transaction() as uow:
            await uow.orm_session().execute(
                update(Assignment).where(Assignment.id == offer["id"])
                .values(expires_at=utcnow() - timedelta(seconds=1)))

        refused = await api.call("POST", f"/api/assignments/{offer['id']}/accept", master,
                                 expect=409)
        assert "expired" in refused["detail"]
        await api.call("POST", f"/api/assignments/{offer['id']}/reject", master, expect=409)
        assert await api.pending(master) == []
        assert (await get_assignment(api, offer["id"])).status == "pending"  # not claimed yet


async def test_a_withdrawn_offer_cannot_be_accepted(api: Api) -> None:
    admin = await api.admin()
    first = await api.master()
    second = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = [o for m in (first, second) for o in await api.pending(m)]
    holder, other = (first, second) if await api.pending(first) else (second, first)

    # An admin hands the order to the other master: the holder's offer is withdrawn.
    manual = await api.call("POST", "/api/admin/assignments", admin,
                            json={"orderId": order["id"], "masterId": other.master_id},
                            expect=201)
    assert (await get_assignment(api, offer["id"])).status == "cancelled"
    refused = await api.call("POST", f"/api/assignments/{offer['id']}/accept", holder,
                             expect=409)
    assert "cancelled" in refused["detail"]
    assert (await events_of(api, holder))[-1] == {
        "type": "assignment_expired", "eventId": 2, "assignmentId": offer["id"],
        "reason": "withdrawn"}

    # Ending a shift withdraws too.
    await api.call("POST", "/api/masters/me/shift/end", other)
    assert (await get_assignment(api, manual["id"])).status == "cancelled"
    await api.call("POST", f"/api/assignments/{manual['id']}/accept", other, expect=409)
    seen = await api.call("GET", f"/api/orders/{order['id']}", client)
    assert seen["status"] == "new"
