"""The migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from dispatchwire.migrate import upgrade
from dispatchwire.models import Base


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
