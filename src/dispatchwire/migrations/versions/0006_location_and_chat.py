"""The job after the offer: masters' newest positions and the chat of each order.

`master_locations` holds one row per master (his newest position on a job, replaced each time
he shares one: never a trail); `chat_messages` the messages of each order, a retried send
found again by its author's `client_message_id`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "master_locations",
        sa.Column("master_id", sa.Integer(),
                  sa.ForeignKey("masters.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("synced_at", _TIME, nullable=True),
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("author_role", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("client_message_id", sa.String(100), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.UniqueConstraint("order_id", "author_id", "client_message_id",
                            name="uq_chat_messages_client_message"),
    )
    op.create_index("ix_chat_messages_order_id", "chat_messages", ["order_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_chat_messages_order_id", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_table("master_locations")
