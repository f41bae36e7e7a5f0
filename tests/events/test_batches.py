"""SQLite's write transactions committed in batches: one COMMIT for those of one pass of the
loop, nothing reported or published before it, and a failure costing no other its work."""

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dispatchwire.auth.models import User
from dispatchwire.clock import utcnow
from dispatchwire.events.types import StoredEvent
from dispatchwire.store import BatchRolledBack, Database, batch, retry_transient
from dispatchwire.store.batch import BUSY_WITHIN_S
from tests.conftest import Api, make_settings, running_app


class Boom(Exception):
    pass


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_app(make_settings(f"sqlite:///{tmp_path}/db.sqlite")) as running:
        yield running


@pytest.fixture
def commits(api: Api) -> list[str]:
    """Every COMMIT and ROLLBACK the writer sends, from now on."""
    sent: list[str] = []
    writer = api.ctx.db._writer
    assert writer is not None
    original = writer._open_batch

    def open_batch(sql: object) -> object:
        sql.connection.set_trace_callback(  # type: ignore[attr-defined]
            lambda text: sent.append(text) if text in ("COMMIT", "ROLLBACK") else None)
        return original(sql)  # type: ignore[arg-type]

    writer._open_batch = open_batch  # type: ignore[method-assign]
    return sent


async def add_user(db: Database, name: str, *, fail: Exception | None = None,
                   fail_first: bool = False) -> None:
    async with db.transaction() as uow:
        if fail_first and fail:
            raise fail
        await uow.sql.rows(
            "INSERT INTO users (email, password_hash, name, role, created_at, last_event_id)"
            " VALUES (:email, '!', :name, 'client', :now, 0)",
            {"email": f"{name}@example.com", "name": name, "now": uow.sql.time(utcnow())})
        if fail:
            raise fail


async def emails(db: Database) -> set[str]:
    async with db.read() as sql:
        return {row[0] for row in await sql.rows("SELECT email FROM users")}


async def test_transactions_of_one_pass_share_one_commit(api: Api, commits: list[str]) -> None:
    db = api.ctx.db
    await asyncio.gather(*(add_user(db, f"u{n}") for n in range(10)))
    assert {f"u{n}@example.com" for n in range(10)} <= await emails(db)
    assert commits == ["COMMIT"]
    await add_user(db, "alone")
    assert commits == ["COMMIT", "COMMIT"]


async def test_a_write_after_a_quiet_while_commits_at_once_and_a_busy_one_waits_for_company(
        api: Api, commits: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    db = api.ctx.db
    await asyncio.sleep(BUSY_WITHIN_S * 2)  # quiet: the next batch expects no company
    before = len(commits)
    lone = asyncio.create_task(add_user(db, "lone"))
    await asyncio.sleep(0.001)  # its COMMIT came at the next pass, before this one
    late = asyncio.create_task(add_user(db, "late"))
    await asyncio.gather(lone, late)
    assert commits[before:] == ["COMMIT", "COMMIT"]
    # Busy now (a batch opened just before): two writes a moment apart share one COMMIT. The
    # windows are widened, so that a loaded machine cannot blur them (CI once took longer than
    # the 20 ms that keep a batch "busy").
    monkeypatch.setattr(batch, "BUSY_WITHIN_S", 60.0)
    monkeypatch.setattr(batch, "COMMIT_WINDOW_S", 0.5)
    first = asyncio.create_task(add_user(db, "first"))
    await asyncio.sleep(0.05)
    assert not first.done()  # waiting for company
    await asyncio.gather(first, add_user(db, "second"))
    assert commits[before:] == ["COMMIT", "COMMIT", "COMMIT"]
    assert {"first@example.com", "second@example.com"} <= await emails(db)


async def test_nothing_is_reported_or_published_before_the_commit(api: Api) -> None:
    db = api.ctx.db
    seen_at_publish: list[set[str]] = []
    publish = api.ctx.outbox.publish
    assert publish is not None

    async def publisher(stored: list[StoredEvent]) -> None:
        seen_at_publish.append(await emails(db))  # read on the other connection
        await publish(stored)

    api.ctx.outbox.publish = publisher

    async def add_with_event(name: str) -> set[str]:
        async with db.transaction() as uow:
            await uow.sql.rows(
                "INSERT INTO users (email, password_hash, name, role, created_at, last_event_id)"
                " VALUES (:email, '!', :name, 'client', :now, 0)",
                {"email": f"{name}@example.com", "name": name, "now": uow.sql.time(utcnow())})
            user_id = await uow.sql.scalar("SELECT id FROM users WHERE name = :name",
                                           {"name": name})
            api.ctx.outbox.emit(uow, user_id, "hello", {})
        return await emails(db)  # as the caller sees it, once told the write is done

    seen_by_callers = await asyncio.gather(*(add_with_event(f"e{n}") for n in range(5)))
    for seen in [*seen_by_callers, *seen_at_publish]:
        assert {f"e{n}@example.com" for n in range(5)} <= seen
    assert len(seen_at_publish) == 5


async def test_a_transaction_failing_before_it_changed_anything_leaves_the_batch(
        api: Api, commits: list[str]) -> None:
    db = api.ctx.db
    results = await asyncio.gather(add_user(db, "a"), add_user(db, "x", fail=Boom(),
                                                               fail_first=True),
                                   add_user(db, "b"), return_exceptions=True)
    assert [type(r) for r in results] == [type(None), Boom, type(None)]
    assert {"a@example.com", "b@example.com"} <= await emails(db)
    assert "x@example.com" not in await emails(db)
    assert commits == ["COMMIT"]


async def test_a_transaction_failing_after_a_change_rolls_its_batch_back_and_the_others_learn_it(
        api: Api, commits: list[str]) -> None:
    db = api.ctx.db
    before = await emails(db)
    results = await asyncio.gather(add_user(db, "a"), add_user(db, "x", fail=Boom()),
                                   add_user(db, "b"), return_exceptions=True)
    # "b" came after the rollback: a new batch
    assert [type(r) for r in results] == [BatchRolledBack, Boom, type(None)]
    assert await emails(db) == before | {"b@example.com"}
    assert commits == ["ROLLBACK", "COMMIT"]
    await add_user(db, "after")  # the writer took no harm
    assert "after@example.com" in await emails(db)


async def test_a_service_rolled_back_with_its_batch_runs_again(api: Api) -> None:
    db = api.ctx.db
    attempts: list[str] = []

    @retry_transient
    async def service(name: str) -> None:
        attempts.append(name)
        await add_user(db, name)

    results = await asyncio.gather(service("a"), add_user(db, "x", fail=Boom()), service("b"),
                                   return_exceptions=True)
    assert [type(r) for r in results] == [type(None), Boom, type(None)]
    assert {"a@example.com", "b@example.com"} <= await emails(db)
    assert sorted(attempts) == ["a", "a", "b"]  # "b" came after the rollback


async def test_a_transaction_through_the_orm_has_a_batch_of_its_own(
        api: Api, commits: list[str]) -> None:
    """Its failure (after a change, or a taken email) cannot take others' work with it."""
    db = api.ctx.db
    await add_user(db, "taken")
    commits.clear()

    async def add_through_orm(email: str, *, fail: bool = False) -> None:
        async with db.transaction() as uow:
            uow.orm_session().add(User(email=email, password_hash="!", name="orm", role="client"))
            await uow.orm_session().flush()
            if fail:
                raise Boom

    results = await asyncio.gather(add_user(db, "a"), add_through_orm("x@example.com", fail=True),
                                   add_user(db, "b"), add_through_orm("taken@example.com"),
                                   add_user(db, "c"), add_through_orm("orm@example.com"),
                                   return_exceptions=True)
    assert [results[n] for n in (0, 2, 4, 5)] == [None] * 4
    assert isinstance(results[1], Boom)
    assert "UNIQUE" in str(results[3])
    kept = await emails(db)
    assert {"a@example.com", "b@example.com", "c@example.com", "orm@example.com"} <= kept
    assert "x@example.com" not in kept
    assert commits.count("ROLLBACK") == 1  # the failed one's own batch, with it alone


async def test_a_caller_cancelled_while_its_batch_commits_still_publishes(api: Api) -> None:
    db = api.ctx.db
    published: list[str] = []
    publish = api.ctx.outbox.publish
    assert publish is not None

    async def publisher(stored: list[StoredEvent]) -> None:
        published.extend(event.type for event in stored)
        await publish(stored)

    api.ctx.outbox.publish = publisher
    client = await api.register("client")
    committing = asyncio.Event()

    async def write() -> None:
        async with db.transaction() as uow:
            api.ctx.outbox.emit(uow, client.id, "kept", {})
            committing.set()

    task = asyncio.create_task(write())
    await committing.wait()
    task.cancel()  # while it waits for the COMMIT of the next pass
    with pytest.raises(asyncio.CancelledError):
        await task
    assert published == ["kept"]
    async with db.read() as sql:
        assert await sql.scalar("SELECT count(*) FROM events WHERE type = 'kept'") == 1


async def test_transactions_leave_no_cycles_for_the_collector(api: Api) -> None:
    """A collection at 10,000 sockets pauses the loop: the write path must not make garbage
    that only a collection frees (a closure over the unit of work once left ~17 objects each)."""
    db = api.ctx.db
    await asyncio.gather(*(add_user(db, f"warm{n}") for n in range(5)))
    gc.collect()
    gc.disable()
    try:
        for round_ in range(10):
            await asyncio.gather(*(add_user(db, f"g{round_}-{n}") for n in range(5)))
        assert gc.collect() < 25  # 50 transactions
    finally:
        gc.enable()
