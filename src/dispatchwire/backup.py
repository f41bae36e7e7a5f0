"""`dispatchwire backup FILE`: a consistent copy of the SQLite database, taken while it serves.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the database page by page. Done
in one step, it reads one snapshot: every transaction committed before it began, none after.
In WAL mode that read holds no writer up (a checkpoint only waits for it to end), so the server
goes on taking orders meanwhile. The copy is written beside FILE and renamed over it once it
has passed `PRAGMA integrity_check`, so FILE is never half written.

PostgreSQL has its own tools, and they are better at it than anything here: `pg_dump` for a
logical copy, `pg_basebackup` (with WAL archiving) for a physical one and point-in-time recovery.
"""

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from dispatchwire.errors import ConfigurationError
from dispatchwire.settings import Settings

__all__ = ["Backup", "backup"]

BUSY_TIMEOUT_S = 30.0  # the server's writers hold the lock for milliseconds at a time


@dataclass(frozen=True)
class Backup:
    source: Path
    target: Path
    size: int  # bytes
    orders: int


def backup(settings: Settings, *, target: Path) -> Backup:
    """Copy the SQLite database to `target`; PostgreSQL is refused, naming its own tools."""
    source = settings.sqlite_path
    if source is None:
        raise ConfigurationError(
            "dispatchwire backup copies SQLite databases only; for PostgreSQL use its own "
            "tools: pg_dump (a logical copy: pg_dump -Fc -f FILE DBNAME, restored with "
            "pg_restore) or pg_basebackup with WAL archiving (a physical copy, point-in-time "
            "recovery)")
    if not source.exists():
        raise ConfigurationError(f"no database at {source}: nothing to back up")
    target = target.resolve()
    if target == source or target.name.startswith(source.name + "-"):
        raise ConfigurationError("the backup must not overwrite the database or its WAL files")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        _copy(source, partial)
        orders = _check(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Backup(source=source, target=target, size=target.stat().st_size, orders=orders)


def _copy(source: Path, target: Path) -> None:
    # Read-only: the backup can never change the database it copies.
    with contextlib.closing(sqlite3.connect(source.as_uri() + "?mode=ro", uri=True,
                                            timeout=BUSY_TIMEOUT_S)) as src, \
            contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)  # all pages in one step: one snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it


def _check(copy: Path) -> int:
    """Fail unless the copy passes integrity_check; its number of orders."""
    with contextlib.closing(sqlite3.connect(copy)) as db:
        problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise ConfigurationError(f"the copy failed its integrity check: {problems[:5]}")
        return int(db.execute("SELECT count(*) FROM orders").fetchone()[0])
