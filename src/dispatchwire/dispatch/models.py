"""The assignments table: offers of orders to masters."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatchwire.clock import utcnow
from dispatchwire.orders.models import Order
from dispatchwire.store import Base, UTCDateTime


class OfferStatus(StrEnum):
    """pending -> accepted | rejected | expired | cancelled (withdrawn)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class EndReason(StrEnum):
    """Why an offer ended without its master's answer (`reason` of `assignment_expired`)."""

    TIMEOUT = "timeout"  # its deadline passed (status expired)
    UNDELIVERED = "undelivered"  # never reached the master in time (status expired)
    WITHDRAWN = "withdrawn"  # shift end, cancel, manual re-offer (status cancelled)
    TAKEN = "taken"  # another master accepted the order (status cancelled)


class DeliveredVia(StrEnum):
    """How an offer was proven to have reached its master (`deliveredVia`)."""

    SOCKET = "socket"  # an `ack` covering its event
    POLL = "poll"  # GET /api/assignments/pending returned it
    ANSWER = "answer"  # accepted or rejected
    PONG = "pong"  # the pong to a ping sent right after its frame (sockets that do not ack)


PENDING = text("status = 'pending'")


class Assignment(Base):
    """An offer of one order to one master, pending until answered, expired or withdrawn."""

    __tablename__ = "assignments"
    __table_args__ = (
        # The database itself guarantees one pending offer per master and per slot of an
        # order, so that concurrent dispatchers on several processes cannot break either rule.
        Index("uq_assignments_pending_master", "master_id", unique=True,
              sqlite_where=PENDING, postgresql_where=PENDING),
        # With fan-out an order holds up to K pending offers, each in its own slot 0..K-1.
        Index("uq_assignments_pending_order_slot", "order_id", "slot", unique=True,
              sqlite_where=PENDING, postgresql_where=PENDING),
        Index("ix_assignments_status_expires", "status", "expires_at"),
        Index("ix_assignments_order_master", "order_id", "master_id"),
        # The admins' figures for a time window (admin/stats.py) read only that window.
        Index("ix_assignments_created_at", "created_at"),
        # The timers of undelivered offers (NULL once delivered or ended).
        *(Index(f"ix_assignments_{column}", column,
                sqlite_where=text(f"{column} IS NOT NULL"),
                postgresql_where=text(f"{column} IS NOT NULL"))
          for column in ("push_due_at", "undelivered_by")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    master_id: Mapped[int] = mapped_column(ForeignKey("masters.id"))
    status: Mapped[str] = mapped_column(String(16), default=OfferStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # its `new_assignment` event
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_via: Mapped[str | None] = mapped_column(String(8))
    end_reason: Mapped[str | None] = mapped_column(String(16))
    push_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undelivered_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which of the order's at most K simultaneous offers this is (always 0 with K = 1).
    slot: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why it went to this master (the ranking's reasons, and its slot): its `offered` step.
    why: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    order: Mapped[Order] = relationship(lazy="joined", innerjoin=True)
