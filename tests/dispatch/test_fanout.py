"""Fan-out (DISPATCHWIRE_OFFER_FANOUT = 3): an order is offered to three masters at once, in
rank order; the first accept wins and the others' offers end `taken`; a decline or an expiry of
one leaves the others pending; the next three are asked when the whole round has ended."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dispatchwire.clock import utcnow
from dispatchwire.dispatch.eligibility import MasterFacts, OrderFacts
from dispatchwire.dispatch.expiry import expire_due_offers
from dispatchwire.dispatch.offers import make_offer
from tests.conftest import Api, Person
from tests.dispatch.support import accept, events_of, reject


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"offer_fanout": 3}


async def _round(api: Api, masters: list[Person]) -> dict[int, dict[str, Any]]:
    """Each master's pending offer, by master index (those who hold one)."""
    found = {}
    for index, master in enumerate(masters):
        if pending := await api.pending(master):
            assert len(pending) == 1
            found[index] = pending[0]
    return found


async def _slots(api: Api, order_id: int) -> list[tuple[int, int, str, str | None]]:
    """(master id, slot, status, end reason) of the order's offers, oldest first."""
    async with api.ctx.db.read() as sql:
        rows = await sql.rows("SELECT master_id, slot, status, end_reason FROM assignments"
                              " WHERE order_id = :id ORDER BY id", {"id": order_id})
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_an_order_is_offered_to_the_best_three_in_rank_order(api: Api) -> None:
    masters = [await api.master() for _ in range(4)]  # idle longest first: 0, 1, 2, 3
    client = await api.register("client")
    order = await api.order(client)
    held = await _round(api, masters)
    assert sorted(held) == [0, 1, 2]
    assert await _slots(api, order["id"]) == [
        (masters[0].master_id, 0, "pending", None), (masters[1].master_id, 1, "pending", None),
        (masters[2].master_id, 2, "pending", None)]


async def test_the_first_accept_wins_and_the_others_end_taken(api: Api) -> None:
    masters = [await api.master() for _ in range(3)]
    client = await api.register("client")
    order = await api.order(client)
    held = await _round(api, masters)
    taken = await accept(api, masters[1], held[1])
    assert taken["order"]["status"] == "assigned"
    assert taken["order"]["masterId"] == masters[1].master_id
    for loser in (0, 2):
        answer = await api.call("POST", f"/api/assignments/{held[loser]['id']}/accept",
                                masters[loser], expect=409)
        assert "no longer pending: another master took the order" in answer["detail"]
        expired = [e for e in await events_of(api, masters[loser])
                   if e["type"] == "assignment_expired"]
        assert expired == [{"type": "assignment_expired", "eventId": expired[0]["eventId"],
                            "assignmentId": held[loser]["id"], "reason": "taken"}]
    assert sorted((m, s, status, reason) for m, s, status, reason
                  in await _slots(api, order["id"])) == sorted([
        (masters[0].master_id, 0, "cancelled", "taken"),
        (masters[1].master_id, 1, "accepted", None),
        (masters[2].master_id, 2, "cancelled", "taken")])


async def test_of_concurrent_accepts_exactly_one_wins(api: Api) -> None:
    masters = [await api.master() for _ in range(3)]
    client = await api.register("client")
    order = await api.order(client)
    held = await _round(api, masters)
    answers = await asyncio.gather(*(
        api.client.post(f"/api/assignments/{held[i]['id']}/accept", headers=masters[i].headers)
        for i in range(3)))
    assert sorted(r.status_code for r in answers) == [200, 409, 409]
    winner = next(i for i, r in enumerate(answers) if r.status_code == 200)
    seen = await api.call("GET", f"/api/orders/{order['id']}", client)
    assert (seen["status"], seen["masterId"]) == ("assigned", masters[winner].master_id)
    statuses = [status for _, _, status, _ in await _slots(api, order["id"])]
    assert sorted(statuses) == ["accepted", "cancelled", "cancelled"]


async def test_a_decline_leaves_the_round_and_the_next_round_starts_when_it_has_ended(
        api: Api) -> None:
    masters = [await api.master() for _ in range(5)]
    client = await api.register("client")
    order = await api.order(client)
    held = await _round(api, masters)
    assert sorted(held) == [0, 1, 2]
    await reject(api, masters[0], held[0])
    assert sorted(await _round(api, masters)) == [1, 2]  # no one new while the round is on
    await reject(api, masters[1], held[1])
    assert sorted(await _round(api, masters)) == [2]
    await reject(api, masters[2], held[2])
    assert sorted(await _round(api, masters)) == [3, 4]  # the next round: who is left
    offers = await _slots(api, order["id"])
    assert [(m, s) for m, s, status, _ in offers if status == "pending"] == [
        (masters[3].master_id, 0), (masters[4].master_id, 1)]


async def test_an_expiry_of_one_leaves_the_others_pending(api: Api) -> None:
    masters = [await api.master() for _ in range(4)]
    client = await api.register("client")
    await api.order(client)
    held = await _round(api, masters)
    past = utcnow() - timedelta(seconds=1)
    async with api.ctx.db.transaction() as uow:
        await uow.sql.rows("UPDATE assignments SET expires_at = :past WHERE id = :id",
                           {"past": uow.sql.time(past), "id": held[0]["id"]})
    assert await expire_due_offers(api.ctx) == 1
    assert sorted(await _round(api, masters)) == [1, 2]


async def test_the_database_holds_no_more_than_one_pending_offer_per_slot(api: Api) -> None:
    masters = [await api.master() for _ in range(4)]
    client = await api.register("client")
    order = await api.order(client)
    facts = OrderFacts(order["id"], "washing_machine", "p", "a", None, None)
    fourth = masters[3]
    async with api.ctx.db.transaction() as uow:  # a racing dispatcher's offer in a taken slot
        assert await make_offer(api.ctx, uow, order=facts, slot=1,
                                master=MasterFacts(fourth.master_id, fourth.id)) is None
    with pytest.raises(IntegrityError):  # and without ON CONFLICT the index refuses it
        async with api.ctx.db.transaction() as uow:
            await uow.orm_session().execute(text(
                "INSERT INTO assignments (order_id, master_id, status, created_at, expires_at,"
                " slot) VALUES (:order, :master, 'pending', :now, :now, 2)"),
                {"order": order["id"], "master": fourth.master_id, "now": utcnow()})
    assert await api.pending(fourth) == []


async def test_a_master_freed_by_a_taken_offer_gets_what_waits_for_him(api: Api) -> None:
    masters = [await api.master() for _ in range(3)]
    client = await api.register("client")
    first = await api.order(client)
    second = await api.order(client)  # waits: every master holds an offer of the first
    held = await _round(api, masters)
    assert {offer["orderId"] for offer in held.values()} == {first["id"]}
    await accept(api, masters[0], held[0])
    again = await _round(api, masters)
    assert sorted(again) == [1, 2]
    assert {offer["orderId"] for offer in again.values()} == {second["id"]}
