"""A scripted day with fan-out 2: orders placed, declined, expired, undelivered, taken,
withdrawn and completed. The timeline tells each order's story in order, and the stats count
exactly what the script did."""

from datetime import timedelta
from typing import Any

import pytest

from dispatchwire.clock import isoformat, parse_time, utcnow
from dispatchwire.dispatch.expiry import end_undelivered_offers, expire_due_offers
from tests.conftest import Api, Person
from tests.dispatch.support import accept, move, reject

TOLERANCE_S = 0.003  # the API's times are in milliseconds, the stats' from microseconds


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"offer_fanout": 2}


class Day:
    """What the script did, as the API answered it."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.answers: dict[tuple[str, int], dict[str, Any]] = {}  # (order, master) -> offer
        self.accept_s: list[float] = []
        self.orders: dict[str, dict[str, Any]] = {}

    async def offer(self, name: str, master: Person) -> dict[str, Any]:
        """The master's pending offer of order `name` (polled: delivered via poll)."""
        [offer] = await self.api.pending(master)
        assert offer["orderId"] == self.orders[name]["id"]
        return offer

    async def answer(self, name: str, master: Person, how: str) -> None:
        offer = await self.offer(name, master)
        if how == "accept":
            answer = await accept(self.api, master, offer)
            taken = parse_time(answer["assignment"]["resolvedAt"])
            self.accept_s.append((taken - parse_time(self.orders[name]["createdAt"]))
                                 .total_seconds())
        else:
            answer = await reject(self.api, master, offer)
        assert master.master_id is not None
        self.answers[(name, master.master_id)] = answer["assignment"]

    async def force_due(self, column: str, offer_id: int) -> None:
        async with self.api.ctx.db.transaction() as uow:
            await uow.sql.rows(f"UPDATE assignments SET {column} = :past WHERE id = :id",
                               {"past": uow.sql.time(utcnow() - timedelta(seconds=1)),
                                "id": offer_id})

    def median_answer(self, master: Person) -> float | None:
        times = sorted((parse_time(a["resolvedAt"]) - parse_time(a["createdAt"]))
                       .total_seconds() for (_, m), a in self.answers.items()
                       if m == master.master_id)
        if not times:
            return None
        middle = len(times) // 2
        return times[middle] if len(times) % 2 else (times[middle - 1] + times[middle]) / 2


async def _pending_ids(api: Api, order_id: int) -> dict[int, int]:
    """master id -> offer id of the order's pending offers, read without polling."""
    async with api.ctx.db.read() as sql:
        rows = await sql.rows("SELECT master_id, id FROM assignments WHERE order_id = :id"
                              " AND status = 'pending'", {"id": order_id})
    return dict(rows)  # type: ignore[arg-type]


async def test_a_scripted_day(api: Api) -> None:
    since = isoformat(utcnow() - timedelta(seconds=1))
    admin = await api.admin()
    m1, m2, m3 = [await api.master() for _ in range(3)]  # idle longest: m1, m2, m3
    client = await api.register("client")
    day = Day(api)

    day.orders["A"] = await api.order(client)  # to m1 and m2
    await day.answer("A", m1, "reject")  # m2's offer stays
    await day.answer("A", m2, "accept")
    day.orders["B"] = await api.order(client)  # to m1 and m3 (m2 is on a job)
    await day.offer("B", m1)
    await day.answer("B", m3, "accept")  # m1's offer is taken
    for status in ("in_progress", "completed"):
        await move(api, m2, day.orders["A"], status)
        await move(api, m3, day.orders["B"], status)
    day.orders["C"] = await api.order(client)  # to m1 and m2 (idle longest)
    for master in (m1, m2):
        await day.force_due("expires_at", (await day.offer("C", master))["id"])
    assert await expire_due_offers(api.ctx) == 2  # the round has ended: m3 is asked
    await day.answer("C", m3, "reject")  # three refusals: escalated
    day.orders["D"] = await api.order(client)  # to m1 and m2; cancelled: both withdrawn
    await move(api, client, day.orders["D"], "cancelled")
    day.orders["E"] = await api.order(client)  # to m1 and m2; m1's never arrives
    offers_e = await _pending_ids(api, day.orders["E"]["id"])
    assert set(offers_e) == {m1.master_id, m2.master_id}
    await day.force_due("undelivered_by", offers_e[m1.master_id])  # type: ignore[index]
    assert await end_undelivered_offers(api.ctx) == 1
    await day.answer("E", m2, "accept")

    stats = await api.call("GET", f"/api/admin/dispatch/stats?since={since}", admin)
    assert stats["since"] == since
    assert (stats["ordersPlaced"], stats["ordersAssigned"]) == (5, 3)
    assert stats["offers"] == {"made": 11, "accepted": 3, "rejected": 2, "expired": 2,
                               "undelivered": 1, "taken": 1, "withdrawn": 2}
    _fastest, middle, high = sorted(day.accept_s)
    expected = {"p50": middle, "p90": middle + 0.8 * (high - middle), "max": high}
    for key, value in expected.items():
        assert stats["timeToAcceptS"][key] == pytest.approx(value, abs=TOLERANCE_S), key
    by_master = {row["masterId"]: row for row in stats["masters"]}
    assert list(by_master) == [m1.master_id, m2.master_id, m3.master_id]
    figures = {m1.master_id: (5, 0, 1, 1, 1), m2.master_id: (4, 2, 0, 1, 0),
               m3.master_id: (2, 1, 1, 0, 0)}
    for master in (m1, m2, m3):
        row = by_master[master.master_id]
        assert (row["offers"], row["accepted"], row["rejected"], row["expired"],
                row["undelivered"]) == figures[master.master_id]  # type: ignore[index]
        assert row["medianAnswerS"] == pytest.approx(day.median_answer(master),
                                                     abs=TOLERANCE_S)
    # The default window (24 h) holds the whole day; a window from now holds nothing.
    everything = await api.call("GET", "/api/admin/dispatch/stats", admin)
    assert everything["offers"] == stats["offers"]
    later = await api.call("GET", "/api/admin/dispatch/stats", admin,
                           params={"since": isoformat(utcnow())})
    assert (later["ordersPlaced"], later["offers"]["made"], later["masters"]) == (0, 0, [])
    assert later["timeToAcceptS"] == {"p50": None, "p90": None, "max": None}

    masters = {row["masterId"]: row for row in await api.call("GET", "/api/admin/masters",
                                                               admin)}
    assert (masters[m1.master_id]["offers"], masters[m1.master_id]["undelivered"]) == (5, 1)
    assert (masters[m2.master_id]["accepted"], masters[m3.master_id]["rejected"]) == (2, 1)
    windowed = await api.call("GET", "/api/admin/masters", admin,
                              params={"since": isoformat(utcnow())})
    assert {row["offers"] for row in windowed} == {0} and len(windowed) == 3

    await _check_timelines(api, admin, day, m1, m2, m3)


async def _check_timelines(api: Api, admin: Person, day: Day, m1: Person, m2: Person,
                           m3: Person) -> None:
    async def story(name: str) -> list[tuple[Any, ...]]:
        steps = await api.call("GET", f"/api/admin/orders/{day.orders[name]['id']}/timeline",
                               admin)
        times = [parse_time(step["at"]) for step in steps]
        assert times == sorted(times)
        return [(s["kind"], s.get("masterId"), _gist(s["detail"])) for s in steps]

    one, two, three = m1.master_id, m2.master_id, m3.master_id
    assert await story("B") == [
        ("placed", None, None), ("offered", one, ("ranked", 1, 0)),
        ("offered", three, ("ranked", 2, 1)), ("delivered", one, "poll"),
        ("delivered", three, "poll"), ("accepted", three, None),
        ("status", three, "assigned"), ("expired", one, "taken"),
        ("status", None, "in_progress"), ("status", None, "completed")]
    assert await story("C") == [
        ("placed", None, None), ("offered", one, ("ranked", 1, 0)),
        ("offered", two, ("ranked", 2, 1)), ("delivered", one, "poll"),
        ("delivered", two, "poll"), ("expired", one, "timeout"), ("expired", two, "timeout"),
        ("offered", three, ("ranked", 1, 0)), ("delivered", three, "poll"),
        ("rejected", three, None), ("escalated", None, "declined")]
    assert await story("D") == [
        ("placed", None, None), ("offered", one, ("ranked", 1, 0)),
        ("offered", two, ("ranked", 2, 1)), ("status", None, "cancelled"),
        ("expired", one, "withdrawn"), ("expired", two, "withdrawn")]
    assert await story("E") == [
        ("placed", None, None), ("offered", one, ("ranked", 1, 0)),
        ("offered", two, ("ranked", 2, 1)), ("expired", one, "undelivered"),
        ("delivered", two, "poll"), ("accepted", two, None), ("status", two, "assigned")]
    [placed, offered, *_] = await api.call(
        "GET", f"/api/admin/orders/{day.orders['A']['id']}/timeline", admin)
    assert placed["detail"] == {"by": day.orders["A"]["clientId"],
                                "applianceType": "washing_machine"}
    assert "assignmentId" not in placed and offered["assignmentId"] > 0
    assert offered["detail"]["live"] is False and "idleSince" in offered["detail"]


def _gist(detail: dict[str, Any]) -> Any:
    """What a step's detail says, in short."""
    if "how" in detail:
        return detail["how"], detail.get("rank"), detail["slot"]
    for key in ("via", "reason", "status"):
        if key in detail:
            return detail[key]
    return None
