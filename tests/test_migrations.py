"""The migrations build exactly the schema the models describe, on both databases, and move
the data they must."""

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dispatchwire.models import Base
from dispatchwire.store.migrate import alembic_config, upgrade


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    # `database_url` is a migrated PostgreSQL copy, or a new SQLite path: migrate it here.
    engine = create_async_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == [], "models and migrations disagree: add a migration"


async def test_0003_clears_idle_since_of_the_masters_on_a_job(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    now = "2026-11-26 07:00:00.000000"
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0002"))
            for n in (1, 2):
                await conn.execute(text(
                    "INSERT INTO users (id, email, password_hash, name, role, created_at,"
                    " last_event_id) VALUES (:n, :email, '!', 'm', 'master', :now, 0)"),
                    {"n": n, "email": f"m{n}@example.com", "now": now})
                await conn.execute(text(
                    "INSERT INTO masters (id, user_id, specializations, on_shift, idle_since,"
                    " created_at) VALUES (:n, :n, '[]', 1, :now, :now)"), {"n": n, "now": now})
            await conn.execute(text(
                "INSERT INTO orders (client_id, master_id, status, appliance_type, problem,"
                " address, created_at, updated_at) VALUES (2, 1, 'in_progress', 'oven', 'p', 'a',"
                " :now, :now)"), {"now": now})
            await conn.commit()
        await upgrade(engine)
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT id, idle_since FROM masters ORDER BY id"))
            rows = result.all()
    finally:
        await engine.dispose()
    assert [(id_, idle is None) for id_, idle in rows] == [(1, True), (2, False)]
