"""Write transactions: all or nothing, whether their statements went through plain SQL, the ORM
session, or both (on SQLite the two share one kept connection, begun and committed by hand)."""

import asyncio

import pytest

from dispatchwire.auth.models import User
from dispatchwire.clock import utcnow
from dispatchwire.store import Database
from tests.conftest import Api


class Boom(Exception):
    pass


async def add_two_users(db: Database, name: str, *, fail: bool = False) -> None:
    async with db.transaction() as uow:
        await uow.sql.rows(
            "INSERT INTO users (email, password_hash, name, role, created_at, last_event_id)"
            " VALUES (:email, '!', :name, 'client', :now, 0)",
            {"email": f"{name}-sql@example.com", "name": name, "now": uow.sql.time(utcnow())})
        uow.orm_session().add(User(email=f"{name}-orm@example.com", password_hash="!", name=name,
                             role="client"))
        await uow.orm_session().flush()
        if fail:
            raise Boom


async def names(db: Database) -> list[str]:
    async with db.read() as sql:
        return [row[0] for row in await sql.rows("SELECT email FROM users ORDER BY email")]


async def test_a_failed_transaction_leaves_nothing_and_the_next_one_commits(api: Api) -> None:
    db = api.ctx.db
    before = await names(db)
    with pytest.raises(Boom):
        await add_two_users(db, "failed", fail=True)
    assert await names(db) == before
    await add_two_users(db, "kept")
    assert await names(db) == sorted([*before, "kept-orm@example.com", "kept-sql@example.com"])


async def test_a_cancelled_transaction_is_rolled_back_and_the_next_one_commits(api: Api) -> None:
    db = api.ctx.db
    before = await names(db)
    inside = asyncio.Event()

    async def stalled() -> None:
        async with db.transaction() as uow:
            await uow.sql.rows(
                "INSERT INTO users (email, password_hash, name, role, created_at, last_event_id)"
                " VALUES ('stalled@example.com', '!', 'x', 'client', :now, 0)",
                {"now": uow.sql.time(utcnow())})
            inside.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(stalled())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await names(db) == before
    await add_two_users(db, "after")  # plain SQL first: the kept connection took no harm
    assert "after-sql@example.com" in await names(db)


async def test_plain_sql_transactions_commit_without_the_orm(api: Api) -> None:
    db = api.ctx.db
    async with db.transaction() as uow:
        await uow.sql.rows(
            "INSERT INTO users (email, password_hash, name, role, created_at, last_event_id)"
            " VALUES ('plain@example.com', '!', 'x', 'client', :now, 0)",
            {"now": uow.sql.time(utcnow())})
    assert "plain@example.com" in await names(db)
