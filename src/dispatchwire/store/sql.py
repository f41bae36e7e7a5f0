"""Hand-written SQL for the hot paths, on the connection of the caller's transaction.

The order path (place, offer, cancel, number events) runs a dozen short statements per request.
Through the ORM each costs ~250 µs of CPU; a statement on SQLite itself costs ~8 µs. `Sql` runs
plain SQL with `:name` parameters: on SQLite straight on the transaction's `sqlite3` connection
(see `sqlite_driver`), on PostgreSQL straight on the asyncpg connection under the session's,
inside its transaction, with the names turned into `$1, $2, ...` once per text. (Through
SQLAlchemy's `text()` a node's marginal CPU per order was ~7 ms in quick runs, against ~5 ms
this way, for ~28 statements an order; see docs/performance.md, "PostgreSQL + Redis".)
The ORM keeps everything else.

The two differ in how they keep times (SQLite: naive UTC text in SQLAlchemy's format; PostgreSQL:
timestamptz) and in row locks (SQLite locks the whole file for a writer): `time`, `read_time`,
`wire_time` and `for_update` hide that.
"""

import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatchwire.clock import isoformat

__all__ = ["PostgresSql", "Row", "Sql", "SqliteSql", "bind_list", "int_list"]

Row = tuple[Any, ...]
Params = Mapping[str, Any]
_NO_PARAMS: Params = {}


class Sql(ABC):
    """Plain SQL on one connection, inside whatever transaction it has open."""

    #: whether `for_update` locks rows (PostgreSQL); SQLite locks the whole file per writer
    locks_rows = False

    def for_update(self, *tables: str, skip_locked: bool = False) -> str:
        """A SELECT's suffix that locks its rows (of `tables`) until the transaction ends,
        against each other such lock and every update. NO KEY: a row inserted elsewhere that
        refers to a locked one (a timeline step of a locked order) need not wait for the lock,
        since the key it checks cannot change; waiting there closed deadlocks. With
        `skip_locked`, rows another transaction holds are left out rather than waited for."""
        if not self.locks_rows:
            return ""
        return (" FOR NO KEY UPDATE" + (f" OF {', '.join(tables)}" if tables else "")
                + (" SKIP LOCKED" if skip_locked else ""))

    def try_claim(self, namespace: int, name: str) -> str:
        """A condition for a WHERE: true once this transaction holds the claim on
        (`namespace`, the integer parameter `name`) until it ends, false at once where another
        holds it (PostgreSQL: a transaction's advisory lock, tried, never waited for). Always
        true on SQLite, whose one writer at a time has every claim."""
        if not self.locks_rows:
            return "1 = 1"
        return f"pg_try_advisory_xact_lock({int(namespace)}, :{name})"

    @abstractmethod
    async def rows(self, sql: str, params: Params = _NO_PARAMS) -> list[Row]: ...

    @abstractmethod
    async def run_many(self, sql: str, params: Iterable[Params]) -> None: ...

    @abstractmethod
    async def insert_rows(self, sql: str, rows: Sequence[Row]) -> None:
        """`run_many` with each row a tuple of the values of the statement's `:names` in the
        order they first appear: no mapping made per row (batches of thousands)."""

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

    def wire_time(self, value: Any) -> str:
        """A time column's value as the wire writes times (`clock.isoformat`)."""
        return isoformat(self.read_time(value))

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
        self._last_time: tuple[datetime | None, str] = (None, "")  # see `time`

    async def rows(self, sql: str, params: Params = _NO_PARAMS) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()

    async def run_many(self, sql: str, params: Iterable[Params]) -> None:
        self._connection.executemany(sql, params)

    async def insert_rows(self, sql: str, rows: Sequence[Row]) -> None:
        self._connection.executemany(_numbered(sql, "?")[0], rows)  # SQLite reads ?1, ?2, ...

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
        # comparisons in SQL agree with what is written here. A transaction passes its one
        # `now` to most of its statements: the last text is kept for the same object.
        last, text = self._last_time
        if value is last:
            return text
        if value.tzinfo is UTC:  # as good as always: the same text, a third sooner
            text = value.isoformat(" ", "microseconds")[:26]
        else:
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        self._last_time = (value, text)
        return text

    def read_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def wire_time(self, value: Any) -> str:
        # Cut from the text `time` and SQLAlchemy store ('2025-12-23 10:45:00.000000', UTC),
        # not parsed and formatted again: 0.15 against 2.2 µs.
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:23]}Z"
        return super().wire_time(value)

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
    """On the asyncpg connection under an SQLAlchemy connection, in its transaction.

    SQLAlchemy's asyncpg adapter begins its transaction at the connection's first statement; a
    statement of ours may come first, so it begins it then (`_ready`), the same way, and
    SQLAlchemy commits or rolls back that one transaction as before. That is the adapter's
    private part: where it is not as expected, statements go through `text()` as they used to.
    Errors are asyncpg's own, or, from beginning the transaction, the adapter's with asyncpg's
    as the cause: `store.retry` reads their SQLSTATE, `store.outage` their causes too.
    """

    locks_rows = True

    def __init__(self, connection: AsyncConnection, adapter: Any = None) -> None:
        self._connection = connection
        usable = adapter is not None and all(hasattr(adapter, name) for name in (
            "_connection", "_transaction", "_start_transaction", "_execute_mutex", "autocommit"))
        self._adapter: Any = adapter if usable else None
        self._driver: Any = adapter._connection if usable else None

    @classmethod
    async def on(cls, connection: AsyncConnection) -> "PostgresSql":
        raw = await connection.get_raw_connection()
        return cls(connection, raw.dbapi_connection)

    async def _ready(self) -> None:
        adapter = self._adapter
        if adapter._transaction is None and not adapter.autocommit:
            async with adapter._execute_mutex:
                if adapter._transaction is None:
                    await adapter._start_transaction()

    async def rows(self, sql: str, params: Params = _NO_PARAMS) -> list[Row]:
        if self._driver is None:
            result = await self._connection.execute(_statement(sql), params)
            return list(result.all()) if result.returns_rows else []
        await self._ready()
        text_, names = _numbered(sql)
        records = await self._driver.fetch(text_, *[params[name] for name in names])
        return [tuple(record) for record in records]

    async def run_many(self, sql: str, params: Iterable[Params]) -> None:
        if self._driver is None:
            await self._connection.execute(_statement(sql), list(params))
            return
        await self._ready()
        text_, names = _numbered(sql)
        await self._driver.executemany(text_, [[each[name] for name in names]
                                               for each in params])

    async def insert_rows(self, sql: str, rows: Sequence[Row]) -> None:
        text_, names = _numbered(sql)
        if self._driver is None:
            await self.run_many(sql, [dict(zip(names, row, strict=True)) for row in rows])
            return
        await self._ready()
        await self._driver.executemany(text_, rows)

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


_NAME = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")  # `:name`, as text() finds it; not `::type`


@lru_cache(maxsize=512)
def _numbered(sql: str, mark: str = "$") -> tuple[str, tuple[str, ...]]:
    """`sql` with `$1, $2, ...` (SQLite: `mark` "?") for its `:names` (a name used twice is
    one number), and the names in the order of their numbers."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"{mark}{names.index(match.group(1)) + 1}"

    return _NAME.sub(number, sql), tuple(names)
