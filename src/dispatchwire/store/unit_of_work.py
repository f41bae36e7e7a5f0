"""The unit of work: one write transaction, and what is to happen around its commit."""

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from dispatchwire.store.sql import Sql

if TYPE_CHECKING:
    from dispatchwire.store.batch import Batch

__all__ = ["UnitOfWork"]

log = logging.getLogger(__name__)
T = TypeVar("T")

BeforeCommit = Callable[["UnitOfWork"], Awaitable[None]]
AfterCommit = Callable[[], Awaitable[None] | None]
FollowUp = Callable[[], Awaitable[None]]


class UnitOfWork:
    """One write transaction (`async with db.transaction() as uow:`).

    `sql` runs hand-written SQL on the transaction's connection; `orm_session()` is an ORM
    session on that same connection and transaction, made the first time it is asked for (the
    order path never needs one).

    Whoever takes part in the transaction hooks into its end without the unit of work knowing
    what they do: `before_commit` work runs inside the transaction once the caller's block is
    done (the events outbox numbers and stores its events there); `after_commit` callbacks run,
    in order, once the transaction is durable (the outbox publishes, services count and log);
    `follow_up` work runs after those, each in a transaction of its own, its failures logged.
    `attached` keeps a collaborator's own state for the length of the transaction.

    Hooks are handed the unit of work rather than closing over it: a unit of work that
    references itself through its hooks is a cycle left for the garbage collector, and a
    collection at 10,000 sockets pauses the loop.
    """

    __slots__ = ("_after", "_attached", "_before", "_follow_ups", "_on_orm", "_session",
                 "batch", "connection", "sql")

    def __init__(self, connection: AsyncConnection, sql: Sql, *,
                 on_orm: "Callable[[], Batch | None] | None" = None,
                 batch: "Batch | None" = None) -> None:
        self.connection = connection
        self.sql = sql
        self.batch = batch  # (SQLite) the batch this transaction commits with
        self._on_orm = on_orm
        self._session: AsyncSession | None = None
        self._before: list[BeforeCommit] = []
        self._after: list[AfterCommit] = []
        self._follow_ups: list[FollowUp] = []
        self._attached: dict[object, Any] = {}

    def orm_session(self) -> AsyncSession:
        """The ORM session of this transaction.

        On SQLite, the first call may move the transaction to a batch of its own (see
        `store.batch`): a batch shared with ORM work could not be committed apart from it.
        """
        if self._session is None:
            if self._on_orm is not None:
                self.batch = self._on_orm() or self.batch
            if not self.connection.in_transaction():
                # SQLite: BEGIN went straight to the driver; tell SQLAlchemy's connection (no
                # statement runs), so that the session joins that transaction, not owns one.
                assert self.connection.sync_connection is not None
                self.connection.sync_connection.begin()
            self._session = AsyncSession(bind=self.connection, expire_on_commit=False)
        return self._session

    async def flush(self) -> None:
        """Write the session's pending changes, if it was used (before plain SQL reads)."""
        if self._session is not None:
            await self._session.flush()

    def attached(self, key: object, factory: "Callable[[UnitOfWork], T]") -> T:
        """`key`'s state for this transaction, made by `factory(self)` on first use."""
        try:
            return self._attached[key]
        except KeyError:
            state = self._attached[key] = factory(self)
            return state

    def before_commit(self, hook: BeforeCommit) -> None:
        self._before.append(hook)

    def after_commit(self, callback: AfterCommit) -> None:
        self._after.append(callback)

    def follow_up(self, work: FollowUp) -> None:
        """Await `work` after the commit (it opens its own transaction); failures are logged."""
        self._follow_ups.append(work)

    # -- run by the database -------------------------------------------------------------

    async def finish(self) -> None:
        """The caller's block is done: flush, then the before-commit work, in order."""
        await self.flush()
        for hook in self._before:  # a hook may add hooks: they run too
            await hook(self)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def committed(self) -> None:
        for callback in self._after:
            if (result := callback()) is not None:
                await result

    async def follow_ups(self) -> None:
        for work in self._follow_ups:
            try:
                await work()
            except Exception:  # the caller's transaction did commit: report, do not undo
                log.exception("follow-up of a committed transaction failed")
