"""Dispatch policies: fan-out, cooldowns, escalation, the timeline, vetted masters.

An order may hold up to K pending offers, one per `slot` (0..K-1): the unique index on
(order_id, slot) over pending offers replaces the one on order_id, so that the database still
refuses a K+1st offer however dispatchers race. Masters gain `approved` and `active` (those of
before were working: both true), `cooldown_until` (a timer, after a decline) and `last_seen_at`.
Escalations are kept once per reason per order; the timeline is `order_steps`. The admins'
figures for a time window read offers by `created_at`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
_PENDING = sa.text("status = 'pending'")


def _not_null(column: str) -> dict[str, sa.TextClause]:
    condition = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": condition, "postgresql_where": condition}


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("slot", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_index("uq_assignments_pending_order")
        batch.create_index("uq_assignments_pending_order_slot", ["order_id", "slot"],
                           unique=True, sqlite_where=_PENDING, postgresql_where=_PENDING)
        batch.create_index("ix_assignments_created_at", ["created_at"])
    with op.batch_alter_table("masters") as batch:
        batch.add_column(sa.Column("approved", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("cooldown_until", _TIME, nullable=True))
        batch.add_column(sa.Column("last_seen_at", _TIME, nullable=True))
        batch.create_index("ix_masters_cooldown_until", ["cooldown_until"],
                           **_not_null("cooldown_until"))
    op.create_table(
        "order_escalations",
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("reason", sa.String(16), primary_key=True),
        sa.Column("at", _TIME, nullable=False),
    )
    op.create_table(
        "order_steps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("master_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    with op.batch_alter_table("order_steps") as batch:
        batch.create_index("ix_order_steps_order_at", ["order_id", "at", "id"])


def downgrade() -> None:
    op.drop_table("order_steps")
    op.drop_table("order_escalations")
    with op.batch_alter_table("masters") as batch:
        batch.drop_index("ix_masters_cooldown_until")
        for column in ("last_seen_at", "cooldown_until", "active", "approved"):
            batch.drop_column(column)
    with op.batch_alter_table("assignments") as batch:
        batch.drop_index("ix_assignments_created_at")
        batch.drop_index("uq_assignments_pending_order_slot")
        # Fails while an order holds several pending offers: end them first.
        batch.create_index("uq_assignments_pending_order", ["order_id"], unique=True,
                           sqlite_where=_PENDING, postgresql_where=_PENDING)
        batch.drop_column("slot")
