"""Which failures mean "the database is not there right now", as opposed to a bug.

A request that needs the database while PostgreSQL is down, restarting or out of connections,
or while SQLite's disk is full, is answered 503 with `Retry-After` (`ServiceUnavailable`): the
client may simply try again. Anything else that fails stays a 500 and is logged with its trace.
"""

import sqlite3

from sqlalchemy import exc as sa

from dispatchwire.errors import ServiceUnavailable

__all__ = ["as_unavailable"]

# PostgreSQL's class 08 (connection exception) and the shutdown codes of class 57: the server
# went away or is not taking connections yet.
_PG_GONE = {"57P01", "57P02", "57P03"}
_PG_GONE_CLASS = "08"
# SQLite's primary result codes for a disk that is full, failing or unreadable, and a lock
# held past the busy timeout.
_SQLITE_FULL = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
                sqlite3.SQLITE_BUSY}


def as_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 for a database outage behind `exc`, or None when `exc` is something else.

    The driver's adapter, which `store.sql.PostgresSql` calls directly, raises its own classes
    with asyncpg's error as the cause and without SQLAlchemy's reading of it: causes count."""
    for _ in range(4):  # a chain of causes, never a cycle of them
        found = _unavailable(exc)
        if found is not None or exc.__cause__ is None:
            return found
        exc = exc.__cause__
    return None


def _unavailable(exc: BaseException) -> ServiceUnavailable | None:
    if isinstance(exc, ServiceUnavailable):
        return exc
    if isinstance(exc, sa.TimeoutError):  # no pooled connection came free in time
        return ServiceUnavailable("the database is busy: try again shortly")
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated:
            return _gone()
        return as_unavailable(exc.orig) if exc.orig is not None else None
    if isinstance(exc, sqlite3.Error):
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _SQLITE_FULL:
            return ServiceUnavailable("the database cannot take writes now (disk full or "
                                      "unavailable): try again shortly")
        return None
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and (sqlstate in _PG_GONE or
                                      sqlstate.startswith(_PG_GONE_CLASS)):
        return _gone()
    # A refused or reset connection, or a connect that timed out (asyncpg raises them bare).
    if isinstance(exc, OSError | TimeoutError) or _is_asyncpg_connection_error(exc):
        return _gone()
    return None


def _gone() -> ServiceUnavailable:
    return ServiceUnavailable("the database is unreachable: try again shortly")


def _is_asyncpg_connection_error(exc: BaseException) -> bool:
    """asyncpg's "connection is closed" and the like, which carry no SQLSTATE. Its
    `InternalClientError` is one too: a statement finds the protocol still taking in an error
    the server sent unasked, the "terminating connection" of a shutdown, before the socket's
    close is read ("cannot switch to state 15; another operation (2) is in progress")."""
    try:
        from asyncpg.exceptions import (
            ConnectionDoesNotExistError,
            InterfaceError,
            InternalClientError,
        )
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(exc, ConnectionDoesNotExistError | InternalClientError) or (
        isinstance(exc, InterfaceError) and "closed" in str(exc))
