"""Offer deadlines live in the database: claimed once across processes, kept across restarts."""

import asyncio
import itertools
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from dispatchwire.dispatch.expiry import WAKE_MARGIN_S, seconds_until_next_deadline
from dispatchwire.dispatch.models import Assignment
from dispatchwire.events.models import Event
from dispatchwire.events.stream import list_events
from dispatchwire.events.types import StoredEvent
from tests.conftest import Api, make_settings, running_app, wait_for
from tests.dispatch.support import all_assignments, get_assignment
from tests.pg import PostgresServer

_databases = itertools.count(1)


@pytest.fixture
def shared_pg_url(pg_server: PostgresServer, pg_template: str) -> str:
    """A fresh migrated PostgreSQL database that several apps in one test share."""
    name = f"shared{next(_databases)}"
    pg_server.sql(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    return pg_server.url(name)




def record_published(api: Api, into: list[StoredEvent]) -> None:
    """Note every event this app publishes after a commit."""
    publish = api.ctx.outbox.publish
    assert publish is not None

    async def recording(events: list[StoredEvent]) -> None:
        into.extend(events)
        await publish(events)

    api.ctx.outbox.publish = recording


async def test_two_expiry_loops_expire_each_offer_exactly_once(shared_pg_url: str) -> None:
    count = 30
    settings = make_settings(shared_pg_url, assignment_timeout_s=1.0)
    published: list[StoredEvent] = []
    async with running_app(settings) as one, running_app(settings) as two:
        apps = (one, two)
        for app in apps:
            record_published(app, published)
        # Master i alone repairs appliance kind_i, so order i has exactly one eligible master:
        # when its offer expires nobody else is asked, and each order makes exactly one offer.
        masters = []
        for i in range(count):
            master = await one.register("master", specializations=[f"kind_{i}"])
            await apps[i % 2].call("POST", "/api/masters/me/shift/start", master)
            masters.append(master)
        client = await one.register("client")
        # Orders placed through both apps, so that both loops are woken for the same deadlines.
        await asyncio.gather(*(apps[i % 2].order(client, f"kind_{i}") for i in range(count)))

        offers = await all_assignments(one)
        assert len(offers) == count
        assert Counter(a.master_id for a in offers) == Counter(m.master_id for m in masters)

        async def all_expired() -> bool:
            return all(a.status == "expired" for a in await all_assignments(one))

        await wait_for(all_expired, within=6)
        await asyncio.sleep(0.3)  # room for a late, duplicate claim to show up

        offers = await all_assignments(one)
        assert len(offers) == count, "an expired offer was re-made to the master who let it go"
        assert {a.status for a in offers} == {"expired"}
        for a in offers:
            assert a.resolved_at is not None and a.resolved_at >= a.expires_at
        async with one.ctx.db.session() as session:
            stored = list(await session.scalars(
                select(Event).where(Event.type == "assignment_expired")))
    per_assignment = Counter(e.payload["assignmentId"] for e in stored)
    assert per_assignment == {a.id: 1 for a in offers}
    # Each event reached the master who held the offer, and was published by one app only.
    owner = {m.master_id: m.id for m in masters}
    assert {(e.payload["assignmentId"], e.user_id) for e in stored} == {
        (a.id, owner[a.master_id]) for a in offers}
    # (Both loops usually share the work; which one claims which offer is left to the race.)
    expiries = [e.payload["assignmentId"] for e in published if e.type == "assignment_expired"]
    assert sorted(expiries) == sorted(per_assignment)


async def test_an_offer_made_before_a_restart_expires_after_it(database_url: str) -> None:
    settings = make_settings(database_url, assignment_timeout_s=3.0)
    loop = asyncio.get_running_loop()
    async with running_app(settings) as before:
        first = await before.master()
        second = await before.master()
        client = await before.register("client")
        order = await before.order(client)
        [offer] = [o for m in (first, second) for o in await before.pending(m)]
        made = loop.time()
        holder, other = (first, second) if await before.pending(first) else (second, first)
    # The first process is gone before the deadline, and its timer with it.
    assert loop.time() - made < 2.5, "set-up too slow: the offer ran out before the restart"

    async with running_app(settings) as after:
        assert (await get_assignment(after, offer["id"])).status == "pending"

        async def expired() -> Assignment | None:
            found = await get_assignment(after, offer["id"])
            return found if found.status == "expired" else None

        gone = await wait_for(expired, within=8)
        # The new process slept until the stored deadline (its default cap is 30 s).
        assert loop.time() - made < 3.0 + 3.0
        assert gone.resolved_at is not None and gone.resolved_at >= gone.expires_at

        async with after.ctx.db.read() as sql:
            held = [e.to_message() for e in await list_events(sql, user_id=holder.id)]
        assert held[-1] == {"type": "assignment_expired", "eventId": 2,
                            "assignmentId": offer["id"], "reason": "timeout"}
        # The order moved on to the other master, on the restarted process.
        [next_offer] = await after.pending(other)
        assert next_offer["orderId"] == order["id"]
        assert next_offer["id"] != offer["id"]
        assert await after.pending(holder) == []
        seen = await after.call("GET", f"/api/orders/{order['id']}", client)
        assert seen["status"] == "new"


async def test_the_loop_sleeps_until_the_next_deadline(database_url: str) -> None:
    settings = make_settings(database_url, assignment_timeout_s=1.0, expiry_max_sleep_s=60)
    loop = asyncio.get_running_loop()
    async with running_app(settings) as api:
        ctx = api.ctx
        assert await seconds_until_next_deadline(ctx) == 60
        master = await api.master()
        client = await api.register("client")
        await asyncio.sleep(0.1)  # the loop has found nothing to do and sleeps for the cap

        made = loop.time()
        await api.order(client)
        [offer] = await api.pending(master)
        remaining = await seconds_until_next_deadline(ctx)
        assert 0.2 < remaining <= 1.0 + WAKE_MARGIN_S  # the deadline, not the cap (loosely)

        async def expired() -> Any:
            found = await get_assignment(api, offer["id"])
            return found if found.status == "expired" else None

        gone = await wait_for(expired, within=5, interval=0.01)
        took = loop.time() - made
        # Woken at the deadline (1 s), not at the cap (60 s); loose for a loaded machine.
        assert took < 3.0, f"the offer expired {took:.2f} s after it was made"
        assert gone.resolved_at >= gone.expires_at  # and not early
        assert await seconds_until_next_deadline(ctx) == 60
