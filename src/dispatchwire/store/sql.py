"""Hand-written SQL for the hot paths, on the connection of the caller's transaction.

The order path (place, offer, cancel, number events) runs a dozen short statements per request.
Through the ORM each costs ~250 µs of CPU; a statement on SQLite itself costs ~8 µs. `Sql` runs
plain SQL with `:name` parameters, which both databases accept as written: on SQLite straight
on the transaction's `sqlite3` connection (see `sqlite_driver`), on PostgreSQL through
SQLAlchemy's `text()` on the same connection as the session. The ORM keeps everything else.

The two differ in how they keep times (SQLite: naive UTC text in SQLAlchemy's format; PostgreSQL:
timestamptz) and in row locks (SQLite locks the whole file for a writer): `time`, `read_time`
and `for_update` hide that.
"""

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["PostgresSql", "Row", "Sql", "SqliteSql", "bind_list", "int_list"]

Row = tuple[Any, ...]
Params = Mapping[str, Any]
_NO_PARAMS: Params = {}


class Sql(ABC):
    """Plain SQL on one connection, inside whatever transaction it has open."""

    #: whether `for_update` locks rows (PostgreSQL); SQLite locks the whole file per writer
    locks_rows = False

    def for_update(self, *tables: str) -> str:
        """A SELECT's suffix that locks its rows (of `tables`) until the transaction ends."""
        if not self.locks_rows:
            return ""
        return " FOR UPDATE" + (f" OF {', '.join(tables)}" if tables else "")

    @abstractmethod
    async def rows(self, sql: str, params: Params = _NO_PARAMS) -> list[Row]: ...

    @abstractmethod
    async def run_many(self, sql: str, params: Iterable[Params]) -> None: ...

    async def first(self, sql: str, params: Params = _NO_PARAMS) -> Row | None:
        rows = await self.rows(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Params = _NO_PARAMS) -> Any:
        row = await self.first(sql, params)
        return None if row is None else row[0]

    @abstractmethod
    def time(self, value: datetime) -> Any:
        """A UTC datetime as a parameter, in the form its column keeps."""

    @abstractmethod
    def read_time(self, value: Any) -> datetime:
        """A time column's value as a UTC datetime."""

    @abstractmethod
    def seconds_between(self, later: str, earlier: str) -> str:
        """An SQL expression: the seconds from time column `earlier` to `later`, a float."""

    @abstractmethod
    def json_elements(self, column: str, alias: str) -> str:
        """A FROM item: one row per element of the JSON array `column`, `alias.value` each."""

    def ids_in(self, column: str, name: str, ids: Sequence[int]) -> tuple[str, dict[str, Any]]:
        """`column IN (...)` for these ids, and its parameters (named from `name`)."""
        names, params = bind_list(name, ids)
        return f"{column} IN ({names})", params

    @staticmethod
    def json(value: Any) -> str:
        return orjson.dumps(value).decode()

    @staticmethod
    def read_json(value: Any) -> Any:
        return orjson.loads(value) if isinstance(value, str | bytes) else value


class SqliteSql(Sql):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def rows(self, sql: str, params: Params = _NO_PARAMS) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()

    async def run_many(self, sql: str, params: Iterable[Params]) -> None:
        self._connection.executemany(sql, params)

    def close(self) -> None:
        self._connection.close()

    @property
    def connection(self) -> sqlite3.Connection:
        return self._connection

    def begin(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")  # take the write lock now, not mid-way

    def commit(self) -> None:
        self._connection.commit()

    def rollback(self) -> None:
        self._connection.rollback()

    def time(self, value: datetime) -> str:
        # SQLAlchemy's storage format for DateTime on SQLite, so that ORM reads and string
        # comparisons in SQL agree with what is written here.
        if value.tzinfo is UTC:  # as good as always: the same text, a third sooner
            return value.isoformat(" ", "microseconds")[:26]
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def read_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def json_elements(self, column: str, alias: str) -> str:
        return f"json_each({column}) AS {alias}"

    def ids_in(self, column: str, name: str, ids: Sequence[int]) -> tuple[str, dict[str, Any]]:
        # One parameter, a JSON array: binding hundreds of them one by one cost SQLite ~4x as
        # much per id (the receipts of 50 ms, stored at once)
        return (f"{column} IN (SELECT value FROM json_each(:{name}))",
                {name: self.json([int(i) for i in ids])})

    def seconds_between(self, later: str, earlier: str) -> str:
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


class PostgresSql(Sql):
    locks_rows = True

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def rows(self, sql: str, params: Params = _NO_PARAMS) -> list[Row]:
        result = await self._connection.execute(_statement(sql), params)
        return list(result.all()) if result.returns_rows else []

    async def run_many(self, sql: str, params: Iterable[Params]) -> None:
        await self._connection.execute(_statement(sql), list(params))

    def time(self, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def read_time(self, value: Any) -> datetime:
        return value.astimezone(UTC)

    def json_elements(self, column: str, alias: str) -> str:
        return f"json_array_elements_text({column}) AS {alias}(value)"

    def seconds_between(self, later: str, earlier: str) -> str:
        return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"


def bind_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`:name0, :name1, ...` and their values, for an IN list: as many as the next power of two,
    the last value repeated (the same list to IN), so that the driver prepares a handful of
    texts once each rather than one for every count. (Long lists on SQLite: `ids_in`, whose one
    JSON parameter costs a quarter of binding each id.)"""
    if not values:
        return "", {}
    size = 1 << (len(values) - 1).bit_length()
    padded = [*values, *[values[-1]] * (size - len(values))]
    names = [f"{name}{i}" for i in range(size)]
    return ", ".join(":" + n for n in names), dict(zip(names, padded, strict=True))


def int_list(values: Iterable[int]) -> str:
    """Ids written into SQL: always integers, never text from outside."""
    return ", ".join(str(int(value)) for value in values)


@lru_cache(maxsize=256)
def _statement(sql: str) -> TextClause:
    return text(sql)
