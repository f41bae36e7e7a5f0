"""Four timeline steps are read from the rows they record, not kept as rows of their own.

An order's `placed` step is its own row (`orders`); its `offered` steps are its offers' rows,
which now keep why each went to its master (`assignments.why`, written by the insert that makes
the offer), and its `expired` steps the same rows once ended (`resolved_at`, `end_reason`); a
`sent` step stored with its offer's receipt rides in that `delivered` step's detail (`"sent":
{"at": ms since the epoch, "socket": id}`). Each saved a row, and `offered` a statement, in
the transactions of every order (`orders/timeline.py`). Steps stored before this are read as
they are. A downgrade writes the four back as rows of `order_steps`, so the code before this
shows every step.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STEPS = "INSERT INTO order_steps (order_id, at, kind, assignment_id, master_id, detail)"


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("why", sa.JSON(), nullable=True))


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    placed = ("json_build_object('by', client_id, 'applianceType', appliance_type)" if postgresql
              else "json_object('by', client_id, 'applianceType', appliance_type)")
    op.execute(f"{_STEPS} SELECT id, created_at, 'placed', NULL, NULL, {placed} FROM orders o"
               " WHERE NOT EXISTS (SELECT 1 FROM order_steps s WHERE s.order_id = o.id"
               " AND s.kind = 'placed')")
    op.execute(f"{_STEPS} SELECT order_id, created_at, 'offered', id, master_id, why"
               " FROM assignments WHERE why IS NOT NULL")
    reason = ("json_build_object('reason', end_reason)" if postgresql
              else "json_object('reason', end_reason)")
    op.execute(f"{_STEPS} SELECT order_id, resolved_at, 'expired', id, master_id, {reason}"
               " FROM assignments a WHERE end_reason IS NOT NULL AND NOT EXISTS (SELECT 1"
               " FROM order_steps s WHERE s.order_id = a.order_id"  # its index: by order
               " AND s.assignment_id = a.id AND s.kind = 'expired')")
    if postgresql:
        sent_at = "to_timestamp((detail->'sent'->>'at')::bigint / 1000.0)"
        socket = "json_build_object('socket', (detail->'sent'->>'socket')::bigint)"
        carried = "detail->'sent' IS NOT NULL"
    else:  # the text SQLAlchemy stores: '2026-12-07 14:40:00.123000'
        sent_at = ("strftime('%Y-%m-%d %H:%M:%f', json_extract(detail, '$.sent.at') / 1000.0,"
                   " 'unixepoch') || '000'")
        socket = "json_object('socket', json_extract(detail, '$.sent.socket'))"
        carried = "json_extract(detail, '$.sent') IS NOT NULL"
    op.execute(f"{_STEPS} SELECT order_id, {sent_at}, 'sent', assignment_id, master_id, {socket}"
               f" FROM order_steps WHERE kind = 'delivered' AND {carried}")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("why")
