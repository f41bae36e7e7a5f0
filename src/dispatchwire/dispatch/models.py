from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatchwire.clock import utcnow
from dispatchwire.db import Base, UTCDateTime
from dispatchwire.orders.models import Order

ASSIGNMENT_STATUSES = ("pending", "accepted", "rejected", "expired", "cancelled")
PENDING = text("status = 'pending'")


class Assignment(Base):
    """An offer of one order to one master, pending until answered, expired or withdrawn."""

    __tablename__ = "assignments"
    __table_args__ = (
        # The database itself guarantees one pending offer per master and per order, so that
        # concurrent dispatchers on several processes cannot break either rule.
        Index("uq_assignments_pending_master", "master_id", unique=True,
              sqlite_where=PENDING, postgresql_where=PENDING),
        Index("uq_assignments_pending_order", "order_id", unique=True,
              sqlite_where=PENDING, postgresql_where=PENDING),
        Index("ix_assignments_status_expires", "status", "expires_at"),
        Index("ix_assignments_order_master", "order_id", "master_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    master_id: Mapped[int] = mapped_column(ForeignKey("masters.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(lazy="joined", innerjoin=True)
