"""Running a write service again when the database rolled its transaction back whole."""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asyncpg import PostgresError
from sqlalchemy.exc import DBAPIError
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from dispatchwire.store.batch import BatchRolledBack

__all__ = ["RETRIES", "is_transient", "retry_transient"]

log = logging.getLogger(__name__)

# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back whole
# and may simply run again.
TRANSIENT_SQLSTATES = {"40P01", "40001"}


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, BatchRolledBack):
        return True
    if isinstance(exc, DBAPIError):  # through SQLAlchemy
        return getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES
    # asyncpg's own, from store.sql's plain statements
    return isinstance(exc, PostgresError) and exc.sqlstate in TRANSIENT_SQLSTATES


RETRIES = 3  # after the first attempt
P = ParamSpec("P")
T = TypeVar("T")

_retrying = retry(
    retry=retry_if_exception(is_transient), stop=stop_after_attempt(RETRIES),
    wait=wait_random_exponential(multiplier=0.01, max=0.2), reraise=True,
    before_sleep=before_sleep_log(log, logging.WARNING),
)


def retry_transient(service: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A safety net for write services: re-run a transaction the database rolled back.

    The lock order of dispatch.offers avoids deadlocks; this re-runs one that PostgreSQL still
    chose as a deadlock victim, or one a failing neighbour in its SQLite batch took along. The
    first attempt is a plain call: the retry machinery costs more than a whole order on SQLite,
    and is only needed once something failed.
    """
    again = _retrying(service)

    @functools.wraps(service)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await service(*args, **kwargs)
        except (DBAPIError, PostgresError, BatchRolledBack) as exc:
            if not is_transient(exc):
                raise
            log.warning("%s: a transaction was rolled back (%s); running it again",
                        service.__qualname__, getattr(getattr(exc, "orig", exc), "sqlstate",
                                                      type(exc).__name__))
        return await again(*args, **kwargs)

    return call
