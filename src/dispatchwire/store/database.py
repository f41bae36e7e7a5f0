"""The database: engines, reads, and the write transaction every change goes through.

A write is `async with db.transaction() as uow:` (see `UnitOfWork`): the caller's block, then
the unit of work's before-commit hooks, the commit, its after-commit callbacks and its
follow-ups. On PostgreSQL a transaction commits on its own pooled connection; on SQLite writes
take turns on one connection and commit in batches (`store.batch`).
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dispatchwire.store import sqlite_driver
from dispatchwire.store.batch import SqliteWriter
from dispatchwire.store.sql import PostgresSql, Sql, SqliteSql
from dispatchwire.store.unit_of_work import UnitOfWork

__all__ = ["Database"]


class Database:
    """The engine(s) and session factories for one database URL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = self._create_engine(url, echo=echo, immediate=False)
        # SQLite writes get an engine of their own whose transactions begin IMMEDIATE.
        self.write_engine = (
            self._create_engine(url, echo=echo, immediate=True) if self.is_sqlite else self.engine
        )
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False)
        self._reader: SqliteSql | None = None
        self._writer = SqliteWriter(self.write_engine) if self.is_sqlite else None

    def _create_engine(self, url: str, *, echo: bool, immediate: bool) -> AsyncEngine:
        if not self.is_sqlite:
            # Bounded waits, so that a request finds out in seconds that PostgreSQL is gone
            # (and is answered 503) rather than hanging: asyncpg's connect timeout is 60 s,
            # the pool's wait for a free connection 30 s.
            return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20,
                                       pool_pre_ping=True, pool_timeout=5,
                                       connect_args={"timeout": 3})
        url = make_url(url).set(drivername=sqlite_driver.DRIVER).render_as_string(False)
        # Connections live on the loop's thread and cost little; enough of them that a burst
        # of concurrent ORM reads finds one kept, rather than opening and closing extras.
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30},
                                     pool_size=16, max_overflow=16)
        _configure_sqlite(engine, begin="BEGIN IMMEDIATE" if immediate else "BEGIN")
        return engine

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read-only ORM session."""
        async with self._reads() as session:
            yield session

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Sql]:
        """Plain SQL for reads of one statement each (no transaction around them).

        On SQLite they all share one connection of the loop's own, in autocommit: a statement
        never yields, so they cannot interleave, and its statement cache stays warm. (Through
        the pool, a burst of concurrent reads checked out more connections than it keeps, and
        each extra one was opened and closed again: two per socket in a reconnect storm.)
        """
        if self.is_sqlite:
            if self._reader is None:
                self._reader = SqliteSql(_open_reader(self.url))
            yield self._reader
            return
        async with self.engine.connect() as conn:
            yield await PostgresSql.on(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """A write transaction: kept if the block ends without error, undone if not."""
        async with self._begin() as uow:
            try:
                yield uow
                await uow.finish()
            finally:
                await uow.close()
        cancelled = await uow.batch.wait() if uow.batch is not None else False
        await uow.committed()
        if cancelled:
            raise asyncio.CancelledError
        await uow.follow_ups()

    @contextlib.asynccontextmanager
    async def _begin(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work in a write transaction. On PostgreSQL it commits before this returns;
        on SQLite with its batch (`uow.batch`), which the caller waits for."""
        if self._writer is not None:
            async with self._writer.begin() as uow:
                yield uow
            return
        async with self.engine.connect() as conn, conn.begin():
            yield UnitOfWork(conn, await PostgresSql.on(conn))

    async def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database file now, in a thread, off the event loop
        (`store.checkpoints`; after a bulk delete, a write and an fsync of megabytes). Nothing
        on PostgreSQL."""
        if self._writer is not None and self._writer.checkpoints is not None:
            await self._writer.checkpoints.now()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


def _open_reader(url: str) -> sqlite3.Connection:
    connection = sqlite3.connect(make_url(url).database or "", isolation_level=None,
                                 check_same_thread=False, timeout=30)
    connection.execute("PRAGMA query_only=ON")
    return connection


def _configure_sqlite(engine: AsyncEngine, *, begin: str) -> None:
    """WAL, foreign keys, a busy timeout, and explicit BEGINs (pysqlite's own are lazy)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000",
                       "synchronous=NORMAL", "temp_store=MEMORY"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not conn.connection.driver_connection.in_transaction:  # see store.batch
            conn.exec_driver_sql(begin)
