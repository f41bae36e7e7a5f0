"""Escalation: every admin is told (a stored `order_needs_attention`) of an order in `new` that
DISPATCHWIRE_ESCALATE_AFTER masters refused, that waited DISPATCHWIRE_ESCALATE_WAIT_S, or that
no approved, active master declares; once per reason, never for an order assigned meanwhile.
`GET /api/orders?needsAttention=true` lists them, to admins only."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from dispatchwire.clock import parse_time, utcnow
from dispatchwire.dispatch.expiry import expire_due_offers
from tests.conftest import Api, Person, wait_for
from tests.dispatch.support import accept, events_of, move, reject

WAIT_S = 1.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"escalate_after": 2, "escalate_wait_s": WAIT_S}


async def _notices(api: Api, admin: Person, reason: str | None = None
                   ) -> list[tuple[int, str]]:
    """The escalations an admin was told of (of one reason: an order refused on a loaded
    machine may also have waited WAIT_S, a notice of its own)."""
    return [(e["orderId"], e["reason"]) for e in await events_of(api, admin)
            if e["type"] == "order_needs_attention" and reason in (None, e["reason"])]


async def _needing(api: Api, admin: Person) -> list[int]:
    return [o["id"] for o in await api.call("GET", "/api/orders?needsAttention=true", admin)]


async def test_refused_by_enough_masters_escalates_once_to_every_admin(api: Api) -> None:
    admins = [await api.admin(), await api.admin()]
    masters = [await api.master() for _ in range(3)]
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(masters[0])
    await reject(api, masters[0], offer)
    assert await _notices(api, admins[0], "declined") == []  # one refusal: not yet
    [offer] = await api.pending(masters[1])
    await reject(api, masters[1], offer)
    for admin in admins:
        assert await _notices(api, admin, "declined") == [(order["id"], "declined")]
    [offer] = await api.pending(masters[2])
    await reject(api, masters[2], offer)  # a third: the same reason is not told again
    for admin in admins:
        assert await _notices(api, admin, "declined") == [(order["id"], "declined")]
        assert await _needing(api, admin) == [order["id"]]


async def test_an_offer_that_ran_out_counts_as_a_refusal(api: Api) -> None:
    admin = await api.admin()
    masters = [await api.master() for _ in range(3)]
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(masters[0])
    await reject(api, masters[0], offer)
    [offer] = await api.pending(masters[1])
    async with api.ctx.db.transaction() as uow:
        await uow.sql.rows("UPDATE assignments SET expires_at = :past WHERE id = :id",
                           {"past": uow.sql.time(utcnow() - timedelta(seconds=1)),
                            "id": offer["id"]})
    assert await expire_due_offers(api.ctx) == 1
    assert await _notices(api, admin, "declined") == [(order["id"], "declined")]


async def test_an_order_waiting_too_long_is_escalated_within_two_seconds(api: Api) -> None:
    admin = await api.admin()
    busy = await api.master()
    client = await api.register("client")
    await api.order(client)
    [offer] = await api.pending(busy)
    await accept(api, busy, offer)  # assigned: never escalated
    waiting = await api.order(client)  # no one free: it waits
    events = await wait_for(lambda: _notice_events(api, admin), within=WAIT_S + 3)
    assert [(e["orderId"], e["reason"]) for e in events] == [(waiting["id"], "waiting")]
    stored_at = await _event_time(api, admin, events[0]["eventId"])
    due = parse_time(waiting["createdAt"]) + timedelta(seconds=WAIT_S)
    assert timedelta(0) <= stored_at - due < timedelta(seconds=2)
    assert await _needing(api, admin) == [waiting["id"]]
    await asyncio.sleep(WAIT_S)  # once: the timer is spent
    assert len(await _notice_events(api, admin)) == 1
    # Out of `new`, it no longer needs attention.
    await move(api, client, waiting, "cancelled")
    assert await _needing(api, admin) == []


async def test_an_order_assigned_or_cancelled_meanwhile_is_never_escalated(api: Api) -> None:
    admin = await api.admin()
    master = await api.master()
    client = await api.register("client")
    await api.order(client)
    [offer] = await api.pending(master)
    await accept(api, master, offer)
    cancelled = await api.order(client)  # waits: the only master is on a job
    await move(api, client, cancelled, "cancelled")
    await asyncio.sleep(WAIT_S + 1.5)
    assert await _notices(api, admin) == []
    async with api.ctx.db.read() as sql:
        assert await sql.scalar("SELECT COUNT(*) FROM order_escalations") == 0


async def test_an_order_no_master_declares_is_escalated_at_placement(api: Api) -> None:
    admin = await api.admin()
    await api.master(specializations=["refrigerator"], on_shift=False)
    client = await api.register("client")
    oven = await api.order(client, "oven")
    fridge = await api.order(client, "refrigerator")  # declared, though no one is on shift
    assert await _notices(api, admin) == [(oven["id"], "no_master")]
    await api.master(specializations=[], on_shift=False)  # takes any type from now on
    dryer = await api.order(client, "dryer")
    assert (dryer["id"], "no_master") not in await _notices(api, admin)
    assert fridge["id"] not in {order_id for order_id, _ in await _notices(api, admin)}


async def test_only_admins_may_ask_for_the_orders_needing_attention(api: Api) -> None:
    client = await api.register("client")
    master = await api.master(on_shift=False)
    for who in (client, master):
        answer = await api.call("GET", "/api/orders?needsAttention=true", who, expect=403)
        assert "admin" in answer["detail"]
    # Without the flag they see their own orders as before.
    assert await api.call("GET", "/api/orders?needsAttention=false", client) == []
    await api.call("GET", "/api/orders?needsAttention=maybe", client, expect=422)


async def _notice_events(api: Api, admin: Person) -> list[dict[str, Any]]:
    return [e for e in await events_of(api, admin) if e["type"] == "order_needs_attention"]


async def _event_time(api: Api, admin: Person, event_id: int) -> Any:
    async with api.ctx.db.read() as sql:
        value = await sql.scalar("SELECT created_at FROM events WHERE user_id = :user AND"
                                 " event_id = :id", {"user": admin.id, "id": event_id})
        return sql.read_time(value)
