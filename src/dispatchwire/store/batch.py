"""SQLite writes: one kept connection, transactions taking turns, committed in batches.

SQLite allows one writer at a time. Rather than let transactions collide and fail with
"database is locked", write transactions of this process queue on an asyncio lock and run on
one kept connection, while reads proceed alongside them on their own connections (WAL mode).
BEGIN and COMMIT go straight to the driver: through SQLAlchemy's pool, checking a connection
out and beginning and committing cost ~130 µs a transaction, twenty times SQLite's own work.

A commit writes every page its transaction changed to the WAL, and consecutive orders change
mostly the same pages (the tails of tables and indexes): committing all the transactions that
ran within COMMIT_WINDOW_S at once writes each such page once, and fills the WAL, and so runs
its checkpoints, less often. The first transaction opens the batch with BEGIN IMMEDIATE and
schedules its COMMIT for COMMIT_WINDOW_S later; none is reported done (nor are its events
published) before that COMMIT. (Committing at the next pass of the loop, as first written, left
one transaction a batch at a few hundred orders a second, each writing its ~17 pages: 2 ms
took `make bench`'s dispatch from ~90% to ~82% of a core at 500/s, for ~1.5 ms more at p50.)
The window is waited only while writes come close together: a batch that opens more than
BUSY_WITHIN_S after the one before commits at the next pass of the loop, since nothing is
likely to join it, and a lone write (a few a second, as most days are) waits for nothing.

A transaction that fails without having changed a row leaves the batch as it was. One that
fails after changing rows rolls the whole batch back, and the others learn it as
`BatchRolledBack`. (A SAVEPOINT per transaction would undo it alone, but SQLite then copies
every page a transaction touches to a sub-journal first: ~50 µs a transaction, most of what the
batch saves.) Transactions through the ORM session never share a batch with others.
"""

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dispatchwire.store.checkpoints import Checkpoints
from dispatchwire.store.sql import SqliteSql
from dispatchwire.store.unit_of_work import UnitOfWork

__all__ = ["Batch", "BatchRolledBack", "SqliteWriter"]

log = logging.getLogger(__name__)

COMMIT_WINDOW_S = 0.002  # the transactions that begin within it commit together
BUSY_WITHIN_S = 0.02  # ... when their batch opened this soon after the one before


class BatchRolledBack(Exception):
    """Another write transaction of the same SQLite batch failed and took this one with it.

    Nothing of this one was kept; running it again is safe (`retry_transient` does)."""


class Batch:
    """SQLite write transactions committed together, with one COMMIT."""

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


class SqliteWriter:
    """The one connection SQLite writes go through, and the batch open on it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine  # its transactions begin IMMEDIATE
        self._lock = asyncio.Lock()
        self._writer: tuple[AsyncConnection, SqliteSql] | None = None
        self._batch: Batch | None = None
        self._opened_at = float("-inf")  # when the last batch opened (the loop's clock)
        path = engine.url.database or ""
        in_memory = path in ("", ":memory:") or "mode=memory" in str(engine.url)
        self.checkpoints = None if in_memory else Checkpoints(path)

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work in the open batch (or a new one): kept if the block ends without
        error, undone (with its batch, if it changed rows) if not. Wait for `uow.batch`."""
        async with self._lock:
            if self._writer is None:
                self._writer = await _connect(self._engine)
                if self.checkpoints is not None:
                    self.checkpoints.take_over_from(self._writer[1].connection)
            conn, sql = self._writer
            batch = self._batch or self._open_batch(sql)
            batch.size += 1
            changes = sql.connection.total_changes
            # (a partial, not a closure over `uow`: see UnitOfWork)
            uow = UnitOfWork(conn, sql, batch=batch,
                             on_orm=functools.partial(self._batch_of_its_own, changes))
            try:
                yield uow
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

    async def close(self) -> None:
        if self._batch is not None:
            self._commit(self._batch)
        if self._writer is not None:
            self._writer[1].connection.managed = False  # type: ignore[attr-defined]
            await self._writer[0].close()
            self._writer = None
        if self.checkpoints is not None:
            await self.checkpoints.aclose()

    def _batch_of_its_own(self, changes: int) -> Batch | None:
        """Before a unit of work uses the ORM session: a batch of its own, if it can have one
        (it is alone in its batch, or has changed nothing yet)."""
        batch, sql = self._batch, self._writer[1] if self._writer else None
        if batch is None or sql is None or batch.size == 1 or \
                sql.connection.total_changes != changes:
            return None
        batch.size -= 1
        self._commit(batch)
        alone = self._open_batch(sql)
        alone.size = 1
        return alone

    def _open_batch(self, sql: SqliteSql) -> Batch:
        sql.begin()
        self._batch = batch = Batch()
        loop = asyncio.get_running_loop()
        busy = loop.time() - self._opened_at < BUSY_WITHIN_S
        self._opened_at = loop.time()
        if busy:
            loop.call_later(COMMIT_WINDOW_S, self._commit_due, batch)
        else:
            loop.call_soon(self._commit_due, batch)
        return batch

    def _commit_due(self, batch: Batch) -> None:
        if batch is not self._batch:
            return
        if self._lock.locked():  # a transaction of the batch is still open (it yielded)
            batch.due = True
        else:
            self._commit(batch)

    def _commit(self, batch: Batch) -> None:
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
            if self.checkpoints is not None:
                self.checkpoints.committed()

    def _roll_back(self, batch: Batch) -> None:
        assert self._writer is not None
        self._batch = None
        with contextlib.suppress(sqlite3.Error):
            self._writer[1].rollback()
        if batch.size > 1:
            log.warning("a failed write transaction rolled back %d others of its batch",
                        batch.size - 1)
        batch.committed.set_exception(BatchRolledBack())
        batch.committed.exception()


async def _connect(engine: AsyncEngine) -> tuple[AsyncConnection, SqliteSql]:
    conn = await engine.connect()
    raw = (await conn.get_raw_connection()).driver_connection  # runs on this thread
    assert isinstance(raw, sqlite3.Connection)
    raw.managed = True  # type: ignore[attr-defined]  # see sqlite_driver: we begin and commit
    return conn, SqliteSql(raw)
