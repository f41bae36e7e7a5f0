"""SQLite for the async engine, run on the event loop's own thread.

aiosqlite hands every statement to a worker thread and back (a queue, a thread switch and a
wake-up of the loop each way), which costs far more than SQLite itself: about 250 µs of CPU per
statement against 5 µs. A local SQLite file answers in microseconds, so, like better-sqlite3 in
Node, this driver calls the standard `sqlite3` module directly. The async engine runs it in
SQLAlchemy's greenlets as usual; no statement ever suspends, so a transaction's statements run
without yielding to the loop (its COMMIT comes with its batch: see `store.batch`). Another
process holding the write lock makes a statement wait (up to the busy timeout) with the loop
blocked: SQLite is the one-process deployment.
"""

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util import await_

__all__ = ["DRIVER", "SQLiteDialect_inloop"]

DRIVER = "sqlite+inloop"


class SQLiteDialect_inloop(SQLiteDialect_pysqlite):
    driver = "inloop"
    is_async = True  # usable by create_async_engine; its DBAPI calls simply never wait
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        # Connections are checked out on the loop's thread but may be closed by the pool's
        # finalizer elsewhere; every statement still runs on the loop's thread.
        kwargs["check_same_thread"] = False
        kwargs["factory"] = _Connection
        return args, kwargs

    # SQLAlchemy's async connection insists that a statement awaited something; a coroutine
    # that returns at once satisfies it without giving the loop a turn.
    def do_execute(self, cursor: Any, statement: Any, parameters: Any, context: Any = None
                   ) -> None:
        await_(_at_once())
        super().do_execute(cursor, statement, parameters, context)

    def do_execute_no_params(self, cursor: Any, statement: Any, context: Any = None) -> None:
        await_(_at_once())
        super().do_execute_no_params(cursor, statement, context)

    def do_executemany(self, cursor: Any, statement: Any, parameters: Any, context: Any = None
                       ) -> None:
        await_(_at_once())
        super().do_executemany(cursor, statement, parameters, context)

    # On a connection whose transactions the application runs itself (`managed`, see
    # `store.batch`), SQLAlchemy's commit and rollback only end its own bookkeeping.
    def do_commit(self, dbapi_connection: Any) -> None:
        if not getattr(dbapi_connection, "managed", False):
            super().do_commit(dbapi_connection)

    def do_rollback(self, dbapi_connection: Any) -> None:
        if not getattr(dbapi_connection, "managed", False):
            super().do_rollback(dbapi_connection)


async def _at_once() -> None:
    return None


class _Cursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """Called by the async result; its rows are already fetched or simply kept."""


class _Connection(sqlite3.Connection):
    managed = False

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


registry.register("sqlite.inloop", __name__, "SQLiteDialect_inloop")
