"""Transactions PostgreSQL rolls back as deadlock victims are run again; other errors are not."""

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from dispatchwire.store import is_transient, retry_transient


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def failure(sqlstate: str) -> DBAPIError:
    return DBAPIError("UPDATE orders ...", {}, DriverError(sqlstate))


def test_deadlocks_and_serialization_failures_are_transient() -> None:
    assert is_transient(failure("40P01"))
    assert is_transient(failure("40001"))
    assert not is_transient(failure("23505"))  # unique_violation: a real conflict
    assert not is_transient(IntegrityError("INSERT ...", {}, DriverError("23505")))
    assert not is_transient(ValueError("40P01"))


async def test_a_deadlock_victim_runs_again_and_succeeds() -> None:
    attempts = []

    @retry_transient
    async def write() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise failure("40P01")
        return "committed"

    assert await write() == "committed"
    assert len(attempts) == 3


async def test_other_errors_and_endless_deadlocks_surface() -> None:
    attempts = []

    @retry_transient
    async def write() -> None:
        attempts.append(1)
        raise failure("40P01") if len(attempts) < 10 else AssertionError("unreachable")

    with pytest.raises(DBAPIError):
        await write()
    assert len(attempts) == 4

    @retry_transient
    async def conflict() -> None:
        attempts.append(1)
        raise failure("23505")

    attempts.clear()
    with pytest.raises(DBAPIError):
        await conflict()
    assert len(attempts) == 1
