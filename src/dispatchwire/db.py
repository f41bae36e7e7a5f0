"""Engine, sessions and the unit of work that every write goes through.

A write is `async with db.transaction() as uow:`. Events emitted on the unit of work are numbered
and stored in the same transaction, just before it commits; after the commit they are handed to
the publisher (the broker) and the after-commit callbacks run.

SQLite allows one writer at a time. Rather than let transactions collide and fail with
"database is locked", write transactions of this process queue on an asyncio lock and run on one
kept connection, while reads proceed alongside them on their own connections (WAL mode). They
are committed in groups: see `_Batch`.
"""

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import DateTime, event, make_url, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from dispatchwire import sqlite_driver
from dispatchwire.sql import PostgresSql, Sql, SqliteSql

__all__ = ["Base", "BatchRolledBack", "Database", "PendingEvent", "UTCDateTime", "UnitOfWork",
           "is_transient", "retry_transient"]

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use clock.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event for one user, emitted during a transaction and numbered at its commit."""

    user_id: int
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: `event_id` increases per user, without gaps."""

    user_id: int
    event_id: int
    type: str
    payload: dict[str, Any]
    created_at: datetime

    def to_message(self) -> dict[str, Any]:
        """The wire message: `{"type": ..., "eventId": ..., **payload}`."""
        return {"type": self.type, "eventId": self.event_id, **self.payload}


EventStore = Callable[[Sql, list[PendingEvent]], Awaitable[list[StoredEvent]]]
Publisher = Callable[[list[StoredEvent]], Awaitable[None]]


class UnitOfWork:
    """One write transaction: the events it emits, and what runs after its commit.

    `sql` runs hand-written SQL on the transaction's connection; `session`, an ORM session on
    that same connection and transaction, is made the first time it is asked for (the order
    path never needs one).
    """

    def __init__(self, connection: AsyncConnection, sql: Sql,
                 before_session: "Callable[[], _Batch | None] | None" = None) -> None:
        self.connection = connection
        self.sql = sql
        self.batch: _Batch | None = None  # (SQLite) set if it left the batch it began in
        self._before_session = before_session
        self.events: list[PendingEvent] = []
        self.callbacks: list[Callable[[], None]] = []
        self.follow_ups: list[Callable[[], Awaitable[None]]] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._before_session is not None:
                self.batch = self._before_session()
            if not self.connection.in_transaction():
                # SQLite: BEGIN went straight to the driver; tell SQLAlchemy's connection (no
                # statement runs), so that the session joins that transaction, not owns one.
                assert self.connection.sync_connection is not None
                self.connection.sync_connection.begin()
            self._session = AsyncSession(bind=self.connection, expire_on_commit=False)
        return self._session

    async def flush(self) -> None:
        """Write the session's pending changes, if it was used."""
        if self._session is not None:
            await self._session.flush()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def emit(self, user_id: int, type_: str, payload: dict[str, Any]) -> None:
        self.events.append(PendingEvent(user_id, type_, payload))

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def follow_up(self, work: Callable[[], Awaitable[None]]) -> None:
        """Await `work` after the commit (it opens its own transaction); failures are logged."""
        self.follow_ups.append(work)


class BatchRolledBack(Exception):
    """Another write transaction of the same SQLite batch failed and took this one with it.

    Nothing of this one was kept; running it again is safe (`retry_transient` does)."""


class _Batch:
    """SQLite write transactions committed together, with one COMMIT.

    A commit writes every page its transaction changed to the WAL, and consecutive orders change
    mostly the same pages (the tails of tables and indexes): committing all the transactions that
    ran in one pass of the event loop at once writes each such page once, and fills the WAL, and
    so runs its checkpoints, less often. The first transaction opens the batch with BEGIN
    IMMEDIATE and schedules its COMMIT for the next pass; none is reported done (nor are its
    events published) before that COMMIT.

    A transaction that fails without having changed a row leaves the batch as it was. One that
    fails after changing rows rolls the whole batch back, and the others learn it as
    `BatchRolledBack`. (A SAVEPOINT per transaction would undo it alone, but SQLite then copies
    every page a transaction touches to a sub-journal first: ~50 µs a transaction, most of what
    the batch saves.) Transactions through the ORM session never share a batch with others.
    """

    __slots__ = ("committed", "due", "size")

    def __init__(self) -> None:
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.due = False  # its COMMIT came while a transaction was open: that one commits
        self.size = 0  # transactions in it so far

    async def wait(self) -> bool:
        """Until the COMMIT (its error raised); True if the caller was cancelled meanwhile.

        The transaction commits with the batch whatever happens to its caller, so the caller
        waits for it anyway, to publish its events."""
        cancelled = False
        while True:
            try:
                await asyncio.shield(self.committed)
                return cancelled
            except asyncio.CancelledError:
                if self.committed.done():
                    self.committed.result()
                    return True
                cancelled = True


class Database:
    """The engine(s) and session factories for one database URL."""

    def __init__(self, url: str, *, store_events: EventStore, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = self._create_engine(url, echo=echo, immediate=False)
        # SQLite writes get an engine of their own whose transactions begin IMMEDIATE.
        self.write_engine = (
            self._create_engine(url, echo=echo, immediate=True) if self.is_sqlite else self.engine
        )
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False)
        self._reader: SqliteSql | None = None
        self._writer: tuple[AsyncConnection, SqliteSql] | None = None
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._batch: _Batch | None = None
        self._store_events = store_events
        self.publisher: Publisher | None = None

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
        """A read-only session."""
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
            yield PostgresSql(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """A write transaction; its events are stored with it and published after it."""
        async with self._begin() as (uow, batch):
            try:
                yield uow
                await uow.flush()
                stored = await self._store_events(uow.sql, uow.events) if uow.events else []
            finally:
                await uow.close()
        batch = uow.batch or batch
        cancelled = await batch.wait() if batch is not None else False
        for callback in uow.callbacks:
            callback()
        if stored and self.publisher is not None:
            await self.publisher(stored)
        if cancelled:
            raise asyncio.CancelledError
        for work in uow.follow_ups:
            try:
                await work()
            except Exception:  # the caller's transaction did commit: report, do not undo
                log.exception("follow-up of a committed transaction failed")

    @contextlib.asynccontextmanager
    async def _begin(self) -> AsyncIterator[tuple[UnitOfWork, _Batch | None]]:
        """A unit of work in a write transaction: kept if the block ends without error, undone
        if not. On SQLite it commits with its batch (wait for that), on PostgreSQL before this
        returns.

        SQLite's writes take turns on one connection kept open, with BEGIN and COMMIT sent
        straight to the driver: through SQLAlchemy, checking a connection out of the pool and
        beginning and committing cost ~130 µs a transaction, twenty times SQLite's own work.
        """
        if not self.is_sqlite:
            async with self.engine.connect() as conn, conn.begin():
                yield UnitOfWork(conn, PostgresSql(conn)), None
            return
        assert self._write_lock is not None
        async with self._write_lock:
            if self._writer is None:
                self._writer = await _sqlite_writer(self.write_engine)
            conn, sql = self._writer
            batch = self._batch or self._open_batch(sql)
            batch.size += 1
            changes = sql.connection.total_changes
            # (a partial, not a closure over `uow`: that cycle left ~17 objects a transaction
            # for the collector, and a collection at 10,000 sockets pauses the loop)
            uow = UnitOfWork(conn, sql, before_session=functools.partial(self._alone, changes))
            try:
                yield uow, batch
                if conn.in_transaction():  # a session joined: end SQLAlchemy's bookkeeping
                    await conn.commit()
                    batch.due = True  # and commit now, before others join
            except BaseException:
                if conn.in_transaction():
                    await conn.rollback()
                if sql.connection.total_changes != changes or not sql.connection.in_transaction:
                    self._roll_back(uow.batch or batch)
                raise
            finally:
                batch = uow.batch or batch
                if batch is self._batch and batch.due:
                    self._commit(batch)

    def _alone(self, changes: int) -> "_Batch | None":
        """Before a unit of work uses the ORM session: a batch of its own, if it can have one."""
        batch, sql = self._batch, self._writer[1] if self._writer else None
        if batch is None or sql is None or batch.size == 1 or \
                sql.connection.total_changes != changes:
            return None
        batch.size -= 1
        self._commit(batch)
        alone = self._open_batch(sql)
        alone.size = 1
        return alone

    def _open_batch(self, sql: SqliteSql) -> _Batch:
        sql.begin()
        self._batch = batch = _Batch()
        asyncio.get_running_loop().call_soon(self._commit_due, batch)
        return batch

    def _commit_due(self, batch: _Batch) -> None:
        if batch is not self._batch:
            return
        assert self._write_lock is not None
        if self._write_lock.locked():  # a transaction of the batch is still open (it yielded)
            batch.due = True
        else:
            self._commit(batch)

    def _commit(self, batch: _Batch) -> None:
        assert self._writer is not None
        self._batch = None
        try:
            self._writer[1].commit()
        except Exception as exc:
            log.exception("a batch of %d write transactions failed to commit", batch.size)
            with contextlib.suppress(sqlite3.Error):
                self._writer[1].rollback()
            batch.committed.set_exception(exc)
            batch.committed.exception()  # raised to every waiter; none is no error to log
        else:
            batch.committed.set_result(None)

    def _roll_back(self, batch: _Batch) -> None:
        assert self._writer is not None
        self._batch = None
        with contextlib.suppress(sqlite3.Error):
            self._writer[1].rollback()
        if batch.size > 1:
            log.warning("a failed write transaction rolled back %d others of its batch",
                        batch.size - 1)
        batch.committed.set_exception(BatchRolledBack())
        batch.committed.exception()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._batch is not None:
            self._commit(self._batch)
        if self._writer is not None:
            self._writer[1].connection.managed = False  # type: ignore[attr-defined]
            await self._writer[0].close()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


async def _sqlite_writer(engine: AsyncEngine) -> tuple[AsyncConnection, SqliteSql]:
    conn = await engine.connect()
    raw = (await conn.get_raw_connection()).driver_connection  # runs on this thread
    assert isinstance(raw, sqlite3.Connection)
    raw.managed = True  # type: ignore[attr-defined]  # see sqlite_driver: we begin and commit
    return conn, SqliteSql(raw)


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
        if not conn.connection.driver_connection.in_transaction:  # see Database._begin
            conn.exec_driver_sql(begin)


# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back whole
# and may simply run again.
TRANSIENT_SQLSTATES = {"40P01", "40001"}


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, BatchRolledBack):
        return True
    return isinstance(exc, DBAPIError) and \
        getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


RETRIES = 3  # after the first attempt
P = ParamSpec("P")
T = TypeVar("T")

_retrying = retry(
    retry=retry_if_exception(is_transient), stop=stop_after_attempt(RETRIES),
    wait=wait_random_exponential(multiplier=0.01, max=0.2), reraise=True,
    before_sleep=before_sleep_log(log, logging.WARNING),
)


def retry_transient(service: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A safety net for write services: re-run a transaction PostgreSQL rolled back.

    The lock order of dispatch.offers avoids deadlocks; this re-runs one that PostgreSQL still
    chose as a deadlock victim. The first attempt is a plain call: the retry machinery costs
    more than a whole order on SQLite, and is only needed once something failed.
    """
    again = _retrying(service)

    @functools.wraps(service)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await service(*args, **kwargs)
        except (DBAPIError, BatchRolledBack) as exc:
            if not is_transient(exc):
                raise
            log.warning("%s: a transaction was rolled back (%s); running it again",
                        service.__qualname__, getattr(getattr(exc, "orig", None), "sqlstate",
                                                      type(exc).__name__))
        return await again(*args, **kwargs)

    return call
