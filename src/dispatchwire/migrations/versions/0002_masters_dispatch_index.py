"""An index that hands dispatch the masters on shift in the order it prefers (idle longest).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 01:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_masters_shift_idle", "masters", ["on_shift", "idle_since", "id"])


def downgrade() -> None:
    op.drop_index("ix_masters_shift_idle", table_name="masters")
