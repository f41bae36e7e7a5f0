"""Storage: the database and its unit of work, SQLite's in-loop driver and group commit, the
hand-written SQL of the hot paths, the ORM base, retries and migrations.

    database.py       Database: engines, reads, `transaction()`
    unit_of_work.py   UnitOfWork: one write transaction and its commit hooks
    batch.py          SQLite writes on one connection, committed in batches
    sqlite_driver.py  SQLite on the event loop's thread (no thread hand-off per statement)
    sql.py            Sql: plain SQL on either database
    orm.py            the ORM base class and the UTC time column
    retry.py          running a rolled-back transaction again
    migrate.py        Alembic migrations at start-up (`dispatchwire/migrations/`)
"""

from dispatchwire.store.batch import BatchRolledBack
from dispatchwire.store.database import Database
from dispatchwire.store.orm import Base, UTCDateTime
from dispatchwire.store.retry import is_transient, retry_transient
from dispatchwire.store.sql import Sql
from dispatchwire.store.unit_of_work import UnitOfWork

__all__ = ["Base", "BatchRolledBack", "Database", "Sql", "UTCDateTime", "UnitOfWork",
           "is_transient", "retry_transient"]
