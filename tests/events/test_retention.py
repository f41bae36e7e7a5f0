"""Retention: events older than DISPATCHWIRE_EVENT_RETENTION_S are deleted in batches, oldest
first, in the background; nothing else is touched (orders, offers, users, push rows: every
other table, chat and timelines included once they exist); what each user keeps runs without a
hole; several processes deleting one PostgreSQL at once do it once, without an error."""

import asyncio
import itertools
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dispatchwire.clock import utcnow
from dispatchwire.events.retention import delete_expired_events, interval_s
from dispatchwire.events.stream import replayable
from dispatchwire.masters.service import LAST_SEEN_EVERY_S
from dispatchwire.models import Base
from tests.conftest import TEST_SECRET, Api, make_settings, running_app, wait_for
from tests.dispatch.support import move, reject
from tests.gateway.test_resume import placed_and_cancelled
from tests.pg import PostgresServer

RETENTION = timedelta(seconds=604800)  # the default
_names = itertools.count(1)


async def other_tables(api: Api) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but `events`."""
    found = {}
    async with api.ctx.db.session() as session:
        for table in Base.metadata.sorted_tables:
            if table.name != "events":
                rows = await session.execute(select(table).order_by(*table.primary_key))
                found[table.name] = [tuple(row) for row in rows]
    return found


async def stored(api: Api) -> list[tuple[int, int]]:
    """(user id, event id) of every stored event."""
    async with api.ctx.db.read() as sql:
        rows = await sql.rows("SELECT user_id, event_id FROM events ORDER BY user_id, event_id")
    return [(user_id, event_id) for user_id, event_id in rows]


async def a_day_of_work(api: Api, day: int) -> None:
    """A job done, an offer declined (its order then waits), an order cancelled; by a master
    of an appliance of the day's own."""
    appliance = f"day{day}"
    master = await api.master(specializations=[appliance])
    client = await api.register("client")
    done = await api.order(client, appliance)
    [offer] = await api.pending(master)
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    for status in ("in_progress", "completed"):
        await move(api, master, done, status)
    await api.order(client, appliance)
    [offer] = await api.pending(master)
    await reject(api, master, offer)
    await placed_and_cancelled(api, client)


async def test_only_old_events_are_deleted_and_nothing_else_is_touched(api: Api) -> None:
    await a_day_of_work(api, 1)
    old = await stored(api)
    await asyncio.sleep(0.01)
    between = utcnow()
    await asyncio.sleep(0.01)
    await a_day_of_work(api, 2)  # its events are newer than the cutoff
    # When the masters were last seen is written in the background, a second later: let it
    # land first (it once changed a master's row between the two looks, on PostgreSQL).
    async def all_taken() -> bool:
        return not api.ctx.last_seen.due

    await wait_for(all_taken, within=10.0)
    await asyncio.sleep(LAST_SEEN_EVERY_S * 1.5)
    before, everything = await other_tables(api), await stored(api)

    deleted = await delete_expired_events(api.ctx, now=between + RETENTION, batch=2)

    assert deleted == len(old) > 4  # in several batches
    assert await stored(api) == sorted(set(everything) - set(old))
    assert await other_tables(api) == before
    assert before["orders"] and before["assignments"]  # there was something to keep

    assert await delete_expired_events(api.ctx, now=utcnow() + RETENTION) == \
        len(everything) - len(old)
    assert await stored(api) == []
    assert await other_tables(api) == before


async def set_created_at(api: Api, moment: datetime, *, row_ids: list[int] | None = None) -> None:
    async with api.ctx.db.transaction() as uow:
        where = f" WHERE id IN ({', '.join(map(str, row_ids))})" if row_ids else ""
        await uow.sql.rows(f"UPDATE events SET created_at = :at{where}",
                           {"at": uow.sql.time(moment)})


async def test_what_each_user_keeps_has_no_hole_whatever_the_timestamps(api: Api) -> None:
    """Events are deleted oldest first by row and a batch stops at the first to keep: an event
    stamped late (another node's clock, a transaction that waited) holds back the older ones
    after it rather than leave a hole in a user's stream."""
    users = [await api.register("client") for _ in range(2)]
    for _ in range(5):
        for user in users:
            await placed_and_cancelled(api, user)  # rows alternate between the two users
    async with api.ctx.db.read() as sql:
        row_ids = [row[0] for row in await sql.rows("SELECT id FROM events ORDER BY id")]
    await set_created_at(api, utcnow() - 2 * RETENTION)
    await set_created_at(api, utcnow(), row_ids=[row_ids[4]])  # the 5th row: stamped late

    assert await delete_expired_events(api.ctx, batch=3) == 4
    kept = await stored(api)
    for user in users:
        mine = [event_id for user_id, event_id in kept if user_id == user.id]
        assert mine == list(range(mine[0], 6)), mine  # from the oldest kept to the newest
        async with api.ctx.db.read() as sql:
            assert await replayable(sql, user_id=user.id, after=mine[0] - 1)
            assert not await replayable(sql, user_id=user.id, after=mine[0] - 2)
            assert await replayable(sql, user_id=user.id, after=5)

    await set_created_at(api, utcnow() - 2 * RETENTION)
    assert await delete_expired_events(api.ctx) == 6
    async with api.ctx.db.read() as sql:
        assert not await replayable(sql, user_id=users[0].id, after=4)
        assert await replayable(sql, user_id=users[0].id, after=5)


@pytest.mark.parametrize("settings_overrides", [{"event_retention_s": 0.3}])
async def test_the_background_loop_deletes_them_soon_after_they_age(api: Api) -> None:
    client = await api.register("client")
    order = await placed_and_cancelled(api, client)
    assert await stored(api) == [(client.id, 1)]
    await wait_for(lambda: _none_left(api), within=5)
    assert (await api.call("GET", f"/api/orders/{order['id']}", client))["status"] == "cancelled"
    assert interval_s(0.3) == 0.3 and interval_s(604800) == 30  # how often it looks


async def _none_left(api: Api) -> bool:
    return await stored(api) == []


# -- several processes on one PostgreSQL --------------------------------------------------------

WORKER = """
import asyncio, json, sys, time
from datetime import timedelta
from dispatchwire.clock import utcnow
from dispatchwire.context import open_context
from dispatchwire.events.retention import delete_expired_events
from dispatchwire.settings import Settings

async def main(url, secret, start_at):
    settings = Settings(database_url=url, jwt_secret=secret, event_retention_s=3600)
    async with open_context(settings) as ctx:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deleted = passes = 0
        cutoff = utcnow() - timedelta(seconds=3600)
        while True:  # as the background loop would, looking again at once
            passes += 1
            deleted += await delete_expired_events(ctx, batch=100, pause_s=0)
            async with ctx.db.read() as sql:
                left = await sql.scalar("SELECT count(*) FROM events WHERE created_at < :cutoff",
                                        {"cutoff": sql.time(cutoff)})
            if not left:
                break
            await asyncio.sleep(0.002)
        print(json.dumps({"deleted": deleted, "passes": passes}))

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""
BACKLOG_USERS, BACKLOG_PER_USER = 40, 500


@pytest.fixture
def pg_url(pg_server: PostgresServer, pg_template: str) -> str:
    name = f"r{next(_names)}"
    pg_server.sql(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    return pg_server.url(name)


async def backlog(api: Api) -> list[int]:
    """BACKLOG_USERS users with BACKLOG_PER_USER events each, two hours old."""
    old = utcnow() - timedelta(hours=2)
    async with api.ctx.db.transaction() as uow:
        await uow.sql.run_many(
            "INSERT INTO users (email, password_hash, name, role, created_at, last_event_id)"
            " VALUES (:email, '!', 'Old', 'client', :at, :n)",
            ({"email": f"old{i}@example.com", "at": uow.sql.time(old), "n": BACKLOG_PER_USER}
             for i in range(BACKLOG_USERS)))
        user_ids = [row[0] for row in await uow.sql.rows("SELECT id FROM users ORDER BY id")]
        await uow.sql.run_many(
            "INSERT INTO events (user_id, event_id, type, payload, created_at)"
            " VALUES (:user_id, :event_id, 'order_status_update', :payload, :at)",
            ({"user_id": user_id, "event_id": n, "at": uow.sql.time(old),
              "payload": '{"orderId": 1, "status": "new"}'}
             for n in range(1, BACKLOG_PER_USER + 1) for user_id in user_ids))
    return user_ids


async def test_two_processes_deleting_one_postgresql_at_once(pg_url: str, tmp_path: Path
                                                             ) -> None:
    # This process's own loop keeps out of it (its retention is long): the two workers delete.
    async with running_app(make_settings(pg_url, event_retention_s=10**9)) as api:
        users = await backlog(api)
        start_at = time.time() + 4.0  # both connected and migrated by then
        workers = [await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, pg_url, TEST_SECRET, str(start_at),
            stdout=subprocess.PIPE, stderr=(tmp_path / f"worker{i}.log").open("w"))
            for i in range(2)]
        await asyncio.sleep(max(0.0, start_at - time.time()))
        for n in range(100):  # meanwhile, writers go on storing new events
            async with api.ctx.db.transaction() as uow:
                api.ctx.outbox.emit(uow, users[n % len(users)], "order_status_update",
                                    {"orderId": 1, "status": "assigned"})
        outputs = [await asyncio.wait_for(worker.communicate(), 120) for worker in workers]
        kept = await stored(api)

    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    assert [worker.returncode for worker in workers] == [0, 0], logs
    assert not any("Traceback" in log or "ERROR" in log for log in logs), logs
    reports = [json.loads(out) for out, _ in outputs]
    # Each old event counted once between the two: none deleted twice, none left.
    assert sum(report["deleted"] for report in reports) == BACKLOG_USERS * BACKLOG_PER_USER
    assert len(kept) == 100  # the new ones, every one of them
    assert sorted(event_id for _, event_id in kept) == sorted(
        BACKLOG_PER_USER + 1 + n // len(users) for n in range(100))
