"""Masters on a job have no `idle_since`, so that dispatch's index skips them.

Accepting an offer now clears `idle_since` until the job ends; this clears it for the masters
on a job when the migration runs. (Without it they are only walked past, as before.)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 07:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE masters SET idle_since = NULL WHERE EXISTS (SELECT 1 FROM orders j"
        " WHERE j.master_id = masters.id AND j.status IN ('assigned', 'in_progress'))"
    )


def downgrade() -> None:
    """Nothing to undo: the older code treats a NULL `idle_since` of a master on a job alike
    (the job's end sets it again)."""
