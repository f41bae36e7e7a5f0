"""Short-cuts shared by the dispatch tests: reading stored events and offers directly."""

from typing import Any

from sqlalchemy import select

from dispatchwire.dispatch.models import Assignment
from dispatchwire.events.stream import list_events
from tests.conftest import Api, Person


async def events_of(api: Api, who: Person, after: int = 0) -> list[dict[str, Any]]:
    async with api.ctx.db.read() as sql:
        stored = await list_events(sql, user_id=who.id, after=after)
    return [e.to_message() for e in stored]


async def expired_notices(api: Api, who: Person) -> list[int]:
    """The assignment ids of every `assignment_expired` event stored for `who`."""
    return [e["assignmentId"] for e in await events_of(api, who)
            if e["type"] == "assignment_expired"]


async def all_assignments(api: Api) -> list[Assignment]:
    async with api.ctx.db.session() as session:
        return list(await session.scalars(select(Assignment).order_by(Assignment.id)))


async def get_assignment(api: Api, assignment_id: int) -> Assignment:
    async with api.ctx.db.session() as session:
        return await session.get_one(Assignment, assignment_id)


async def offer_status(api: Api, assignment_id: int) -> str:
    async with api.ctx.db.session() as session:
        assignment = await session.get(Assignment, assignment_id)
        assert assignment is not None
        return assignment.status


async def offers_of_order(api: Api, order_id: int) -> list[tuple[int, str]]:
    """`(master_id, status)` of every offer ever made for the order, oldest first."""
    async with api.ctx.db.session() as session:
        rows = await session.execute(
            select(Assignment.master_id, Assignment.status)
            .where(Assignment.order_id == order_id).order_by(Assignment.id)
        )
        return [(master_id, status) for master_id, status in rows]


async def order_ids(api: Api, master: Person) -> list[int]:
    """The orders of the master's pending offers."""
    return [offer["orderId"] for offer in await api.pending(master)]


async def status_of(api: Api, order: dict[str, Any], client: Person) -> str:
    return (await api.call("GET", f"/api/orders/{order['id']}", client))["status"]


async def reject(api: Api, master: Person, offer: dict[str, Any]) -> dict[str, Any]:
    return await api.call("POST", f"/api/assignments/{offer['id']}/reject", master)


async def accept(api: Api, master: Person, offer: dict[str, Any]) -> dict[str, Any]:
    return await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)


async def move(api: Api, who: Person, order: dict[str, Any], status: str) -> dict[str, Any]:
    return await api.call("POST", f"/api/orders/{order['id']}/status", who,
                          json={"status": status})


async def on_a_job(api: Api, **order_fields: Any) -> tuple[Person, Person, dict[str, Any]]:
    """(master, client, order): the master accepted the client's order."""
    master = await api.master()
    client = await api.register("client")
    order = await api.order(client, **order_fields)
    [offer] = await api.pending(master)
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    return master, client, order
