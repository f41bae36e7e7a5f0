"""The orders table, and the statuses an order moves through."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
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
