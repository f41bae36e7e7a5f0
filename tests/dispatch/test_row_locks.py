"""PostgreSQL: dispatchers never wait for one another where that could close a cycle. The
deadlocks the bench met at 100 orders a second (PostgreSQL broke each after its one-second
deadlock_timeout, and the request took that long): an offer waiting for another transaction's
offer to the same master while holding its order, a timeline step waiting for a locked order
it refers to, and a freed master's dispatcher waiting for one waiting order while holding
another."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from dispatchwire.dispatch.eligibility import MasterFacts, OrderFacts
from dispatchwire.dispatch.offers import lock_orders, make_offer
from dispatchwire.dispatch.rounds import dispatch_for_master
from tests.conftest import Api, Person

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


def facts(order: dict[str, Any]) -> OrderFacts:
    return OrderFacts(order["id"], order["applianceType"], "p", "a", None, None)


async def waiting_orders(api: Api, count: int) -> list[dict[str, Any]]:
    client = await api.register("client")
    return [await api.order(client) for _ in range(count)]  # no master on shift: they wait


async def pending_of(api: Api, master: Person) -> list[int]:
    async with api.ctx.db.read() as sql:
        return [row[0] for row in await sql.rows(
            "SELECT order_id FROM assignments WHERE master_id = :id AND status = 'pending'",
            {"id": master.master_id})]


async def test_a_master_being_offered_something_is_passed_over_not_waited_for(
        api: Api) -> None:
    master = await api.master(on_shift=False)
    him = MasterFacts(master.master_id, master.id)
    first, second = await waiting_orders(api, 2)
    offered, release = asyncio.Event(), asyncio.Event()

    async def offer_second_then_want_the_first() -> None:
        async with api.ctx.db.transaction() as uow:
            await lock_orders(uow.sql, [second["id"]])
            assert await make_offer(api.ctx, uow, order=facts(second), master=him) is not None
            offered.set()
            await release.wait()
            await lock_orders(uow.sql, [first["id"]])  # as a dispatcher of a freed master does

    other = asyncio.create_task(offer_second_then_want_the_first())
    await asyncio.wait_for(offered.wait(), 10)
    async with api.ctx.db.transaction() as uow:
        await lock_orders(uow.sql, [first["id"]])
        # The other transaction is offering him the second order: he is passed over at once.
        # (Waiting here, for that transaction, while it waits for this order, was a deadlock.)
        made = await asyncio.wait_for(
            make_offer(api.ctx, uow, order=facts(first), master=him), 10)
        release.set()
    await asyncio.wait_for(other, 10)
    assert made is None
    assert await pending_of(api, master) == [second["id"]]


async def test_a_step_of_a_locked_order_is_written_without_waiting_for_the_lock(
        api: Api) -> None:
    [order] = await waiting_orders(api, 1)
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold_the_order() -> None:
        async with api.ctx.db.transaction() as uow:
            await lock_orders(uow.sql, [order["id"]])
            locked.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_order())
    await asyncio.wait_for(locked.wait(), 10)
    try:
        async with api.ctx.db.transaction() as uow:
            await asyncio.wait_for(uow.sql.rows(
                "INSERT INTO order_steps (order_id, at, kind, detail)"
                " VALUES (:id, :at, 'escalated', '{}')",
                {"id": order["id"], "at": uow.sql.time(datetime.now(UTC))}), 10)
    finally:
        release.set()
        await asyncio.wait_for(holder, 10)


async def test_a_freed_masters_first_look_passes_over_a_held_order_and_the_next_takes_it(
        api: Api) -> None:
    master = await api.master(specializations=["fridge"])  # on shift, and nothing for him
    [order] = await waiting_orders(api, 1)  # a washing machine
    async with api.ctx.db.transaction() as uow:  # now he repairs those too; nobody told yet
        await uow.sql.rows("UPDATE masters SET specializations = CAST(:s AS JSON)"
                           " WHERE id = :id", {"s": '["washing_machine"]', "id": master.master_id})
    locked, looked, release = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def hold_the_order() -> None:
        async with api.ctx.db.transaction() as uow:
            await lock_orders(uow.sql, [order["id"]])
            locked.set()
            await release.wait()

    async def first_look() -> object:
        async with api.ctx.db.transaction() as uow:
            made = await dispatch_for_master(api.ctx, uow, master_id=master.master_id)
            looked.set()
        return made  # after the look that follows the commit, which waits for the lock

    holder = asyncio.create_task(hold_the_order())
    await asyncio.wait_for(locked.wait(), 10)
    look = asyncio.create_task(first_look())
    try:
        await asyncio.wait_for(looked.wait(), 10)  # not held up by the order's holder
    finally:
        release.set()
    assert await asyncio.wait_for(look, 10) is None
    await asyncio.wait_for(holder, 10)
    assert await pending_of(api, master) == [order["id"]]  # the second look offered it
