"""PostgreSQL keeps statistics on the masters' specializations as text, so that dispatch walks
its index.

Dispatch picks masters with `CAST(specializations AS VARCHAR) = '[]' OR ... LIKE ...`. Without
statistics on that expression PostgreSQL guesses that a handful of masters match, and then reads
every master on shift and sorts them, instead of walking `ix_masters_shift_idle` and stopping
at the first few: 1.3 ms per order at 1,000 masters, growing with them, against 0.14 ms flat
(EXPLAIN ANALYZE; tests/dispatch/test_query_plans.py checks the plan). Expression statistics
need PostgreSQL 14; an older server keeps the old plan. SQLite's planner walks the index
already: nothing changes there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 22:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "st_masters_specializations_text"


def _expression_statistics() -> bool:
    bind = op.get_bind()
    return (bind.dialect.name == "postgresql"
            and bind.dialect.server_version_info is not None
            and bind.dialect.server_version_info >= (14,))


def upgrade() -> None:
    if _expression_statistics():
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {_NAME}"
                   " ON (CAST(specializations AS VARCHAR)) FROM masters")
        op.execute("ANALYZE masters")  # at once, not when autovacuum next comes by


def downgrade() -> None:
    if _expression_statistics():
        op.execute(f"DROP STATISTICS IF EXISTS {_NAME}")
