"""Delivery receipts, pushes and unreachable masters.

An offer records when and how it reached its master (`delivered_at`, `delivered_via`), why it
ended (`end_reason`), the id of the event that made it (`event_id`, which an `ack` covers), and
its two timers while it is undelivered: when to push it (`push_due_at`) and when to give up on
the master (`undelivered_by`). A master who let an offer end undelivered is `unreachable_at`
until next seen. Push subscriptions, and the pushes to send (durable, claimed like timers).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("event_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("delivered_at", _TIME, nullable=True))
        batch.add_column(sa.Column("delivered_via", sa.String(8), nullable=True))
        batch.add_column(sa.Column("end_reason", sa.String(16), nullable=True))
        batch.add_column(sa.Column("push_due_at", _TIME, nullable=True))
        batch.add_column(sa.Column("pushed_at", _TIME, nullable=True))
        batch.add_column(sa.Column("undelivered_by", _TIME, nullable=True))
        for column in ("push_due_at", "undelivered_by"):
            batch.create_index(f"ix_assignments_{column}", [column],
                               sqlite_where=sa.text(f"{column} IS NOT NULL"),
                               postgresql_where=sa.text(f"{column} IS NOT NULL"))
    with op.batch_alter_table("masters") as batch:
        batch.add_column(sa.Column("unreachable_at", _TIME, nullable=True))
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        # The Web Push endpoint or the FCM token: one device, whoever holds it now.
        sa.Column("address", sa.Text(), nullable=False, unique=True),
        sa.Column("p256dh", sa.String(100), nullable=True),
        sa.Column("auth", sa.String(40), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("last_success_at", _TIME, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
    )
    op.create_table(
        "push_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subscription_id", sa.Integer(),
                  sa.ForeignKey("push_subscriptions.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("assignment_id", sa.Integer(), sa.ForeignKey("assignments.id"), nullable=True,
                  index=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("frame", sa.Text(), nullable=False),
        sa.Column("ttl_s", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("due_at", _TIME, nullable=True),  # NULL once done
        sa.Column("ends_at", _TIME, nullable=False),  # no attempt after this
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_until", _TIME, nullable=True),
        sa.Column("result", sa.String(8), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
    )
    with op.batch_alter_table("push_jobs") as batch:
        batch.create_index("ix_push_jobs_due", ["due_at"],
                           sqlite_where=sa.text("due_at IS NOT NULL"),
                           postgresql_where=sa.text("due_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_table("push_jobs")
    op.drop_table("push_subscriptions")
    with op.batch_alter_table("masters") as batch:
        batch.drop_column("unreachable_at")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_index("ix_assignments_push_due_at")
        batch.drop_index("ix_assignments_undelivered_by")
        for column in ("undelivered_by", "pushed_at", "push_due_at", "end_reason",
                       "delivered_via", "delivered_at", "event_id"):
            batch.drop_column(column)
