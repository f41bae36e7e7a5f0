"""Per-user eventIds: unique, gap-free and visible in order, even with concurrent writers.

Why a plain auto-increment (a sequence, or any counter handed out when the row is inserted)
fails here: ids are then given out in insertion order, not commit order. Writer X takes id 7,
writer Y takes id 8 and commits first; a reader polling in between sees 8, remembers
`last_seen = 8`, and never asks for 7 again, which this test's reader reports as a gap. A
writer that rolls back after taking its id also leaves a hole for ever, so the final ids would
not be exactly 1..N. The slow store below widens the window between taking ids and committing,
so that such a scheme would fail reliably rather than by luck.
"""

import asyncio
import random
from collections import defaultdict
from typing import Any

import pytest

from dispatchwire.auth.service import create_user
from dispatchwire.events.outbox import store_events
from dispatchwire.events.stream import list_events
from dispatchwire.events.types import PendingEvent, StoredEvent
from dispatchwire.store.batch import BatchRolledBack
from tests.conftest import Api

MISSING_USER = 10**9  # numbered last (users are locked in id order), then fails: a late rollback


class Boom(Exception):
    pass


async def new_user(api: Api, name: str) -> int:
    user, _ = await create_user(api.ctx, email=f"{name}@example.com", password=api.password,
                                name=name, phone=None, role="client")
    return user.id


async def test_event_ids_stay_gap_free_under_concurrent_writers(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = await new_user(api, "alice"), await new_user(api, "bob")
    rng = random.Random(7)

    async def slow_store(session: Any, pending: list[PendingEvent]) -> list[StoredEvent]:
        stored = await store_events(session, pending)  # the ids are taken (rows locked) here
        await asyncio.sleep(rng.uniform(0, 0.004))  # ...and committed only a little later
        return stored

    monkeypatch.setattr(api.ctx.outbox, "store", slow_store)

    # What each writer emits, as (user, n) in emission order, and how it ends.
    plans: list[tuple[list[tuple[int, int]], str]] = []
    for k in range(60):
        shape = k % 6
        if shape == 0:
            emits = [(a, 0)]
        elif shape == 1:
            emits = [(a, n) for n in range(3)]
        elif shape == 2:
            emits = [(b, 0), (a, 0), (b, 1), (a, 1)]  # both users, b first
        elif shape == 3:
            emits = [(a, 0), (b, 0), (a, 1)]  # both users, a first
        else:
            emits = [(a, 0), (b, 0)]
        ending = "commit"
        if k % 10 == 4:
            ending = "raise"  # fails inside the block: nothing is numbered
        elif k % 10 == 9:
            ending = "late"  # fails after a's and b's ids were taken: they must be given back
        plans.append((emits, ending))

    in_flight = 0
    most_in_flight = 0

    async def writer(k: int) -> None:
        nonlocal in_flight, most_in_flight
        emits, ending = plans[k]
        await asyncio.sleep(rng.uniform(0, 0.01))
        while True:
            try:
                async with api.ctx.db.transaction() as uow:
                    in_flight += 1
                    most_in_flight = max(most_in_flight, in_flight)
                    try:
                        await asyncio.sleep(rng.uniform(0, 0.003))
                        for user_id, n in emits:
                            api.ctx.outbox.emit(uow, user_id, "test", {"writer": k, "n": n})
                        if ending == "late":
                            api.ctx.outbox.emit(uow, MISSING_USER, "test",
                                                {"writer": k, "n": 0})
                        if ending == "raise":
                            raise Boom
                    finally:
                        in_flight -= 1
            except BatchRolledBack:  # a late failure in its SQLite batch: again, as services do
                continue
            except Boom:
                assert ending == "raise"
            except Exception:
                assert ending == "late"
            else:
                assert ending == "commit"
            return

    done = asyncio.Event()

    async def reader(user_id: int) -> tuple[int, int]:
        """Poll like a client replaying after its last eventId; never may it see a gap."""
        last_seen, batches = 0, 0
        while True:
            finished = done.is_set()
            async with api.ctx.db.read() as sql:
                batch = await list_events(sql, user_id=user_id, after=last_seen)
            ids = [e.event_id for e in batch]
            assert ids == list(range(last_seen + 1, last_seen + 1 + len(ids))), (last_seen, ids)
            if ids:
                last_seen, batches = ids[-1], batches + 1
            if finished:
                return last_seen, batches
            await asyncio.sleep(0.001)

    readers = [asyncio.create_task(reader(a)), asyncio.create_task(reader(b))]
    await asyncio.gather(*(writer(k) for k in range(len(plans))))
    done.set()
    (seen_a, batches_a), (seen_b, batches_b) = await asyncio.gather(*readers)
    assert batches_a > 1 and batches_b > 1, "the readers saw nothing while writers ran"

    committed: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for k, (emits, ending) in enumerate(plans):
        if ending == "commit":
            for user_id, n in emits:
                committed[user_id].append((k, n))
    async with api.ctx.db.read() as sql:
        for user_id, seen in ((a, seen_a), (b, seen_b)):
            events = await list_events(sql, user_id=user_id)
            expected = committed[user_id]
            assert [e.event_id for e in events] == list(range(1, len(expected) + 1))
            assert seen == len(expected)
            assert sorted((e.payload["writer"], e.payload["n"]) for e in events) == sorted(expected)
            # One transaction's events for a user are consecutive, in the order emitted.
            by_writer: dict[int, list[tuple[int, int]]] = defaultdict(list)
            for e in events:
                by_writer[e.payload["writer"]].append((e.event_id, e.payload["n"]))
            for rows in by_writer.values():
                ids = [event_id for event_id, _ in rows]
                assert ids == list(range(ids[0], ids[0] + len(ids)))
                assert [n for _, n in rows] == sorted(n for _, n in rows)
            last = await sql.scalar("SELECT last_event_id FROM users WHERE id = :id",
                                    {"id": user_id})
            assert last == len(expected)

    if not api.ctx.db.is_sqlite:  # SQLite queues writers; PostgreSQL must really overlap them
        assert most_in_flight > 1
