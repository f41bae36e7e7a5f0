"""Which errors mean the database is away (store/outage.py), as SQLAlchemy's asyncpg adapter
raises them on the plain-statement path (store.sql.PostgresSql), where SQLAlchemy does not
classify them first. The outage itself, a PostgreSQL stopped under load, is
tests/cluster/test_database_outage.py; this pins down the error that test met in one run out
of several, which a timing test cannot make happen at will."""

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from dispatchwire.errors import ServiceUnavailable
from dispatchwire.store.outage import as_unavailable

pytestmark = pytest.mark.timeout(10)

ADAPTER = PGDialect_asyncpg.import_dbapi()


def as_the_adapter_raises(error: Exception) -> Exception:
    """`error`, translated and chained as the adapter does (`raise translated from error`)."""
    translated = ADAPTER._asyncpg_error_translate.get(type(error), ADAPTER.Error)(str(error))
    try:
        raise translated from error
    except Exception as raised:
        return raised


def test_the_shutdown_notice_found_mid_protocol_is_an_outage() -> None:
    error = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress")
    assert isinstance(as_unavailable(as_the_adapter_raises(error)), ServiceUnavailable)


def test_a_closed_connection_is_an_outage() -> None:
    error = asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation")
    assert isinstance(as_unavailable(as_the_adapter_raises(error)), ServiceUnavailable)


def test_a_bug_stays_a_bug() -> None:
    error = asyncpg.exceptions.UniqueViolationError("duplicate key value")
    assert as_unavailable(as_the_adapter_raises(error)) is None
    assert as_unavailable(as_the_adapter_raises(ValueError("not the database"))) is None
