"""The orders table, the statuses an order moves through, its timeline and escalations."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatchwire.auth.models import User
from dispatchwire.clock import utcnow
from dispatchwire.masters.models import Master
from dispatchwire.store import Base, UTCDateTime


class OrderStatus(StrEnum):
    """new -> assigned -> in_progress -> completed; cancelled from new or assigned."""

    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


ACTIVE_JOB = (OrderStatus.ASSIGNED, OrderStatus.IN_PROGRESS)  # a master on such an order is busy


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status_created", "status", "created_at"),
        Index("ix_orders_master_status", "master_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    master_id: Mapped[int | None] = mapped_column(ForeignKey("masters.id"))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.NEW)
    appliance_type: Mapped[str] = mapped_column(String(50))
    problem: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(500))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    master: Mapped[Master | None] = relationship(lazy="joined")


class StepKind(StrEnum):
    """What an entry of an order's timeline records."""

    PLACED = "placed"
    OFFERED = "offered"  # detail: why this master (the ranking's reasons)
    SENT = "sent"  # the offer's frame written to one of the master's sockets
    DELIVERED = "delivered"  # detail: via
    PUSHED = "pushed"  # detail: kind, result
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"  # detail: reason (timeout, undelivered, withdrawn, taken)
    ESCALATED = "escalated"  # detail: reason
    STATUS = "status"  # detail: status
    MESSAGE = "message"  # a chat message


class OrderStep(Base):
    """One entry of an order's timeline, written in the transaction of what it records."""

    __tablename__ = "order_steps"
    __table_args__ = (Index("ix_order_steps_order_at", "order_id", "at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    assignment_id: Mapped[int | None] = mapped_column(Integer)
    master_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class AttentionReason(StrEnum):
    """Why an order was escalated to the admins (`order_needs_attention`)."""

    DECLINED = "declined"  # DISPATCHWIRE_ESCALATE_AFTER masters refused it
    WAITING = "waiting"  # DISPATCHWIRE_ESCALATE_WAIT_S in `new`
    NO_MASTER = "no_master"  # at placement no approved, active master declares its type


class Escalation(Base):
    """An order escalated for a reason: at most once per reason (the primary key)."""

    __tablename__ = "order_escalations"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          primary_key=True)
    reason: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
