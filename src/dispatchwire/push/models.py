"""The push tables: each user's devices, and the pushes to send to them."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from dispatchwire.clock import utcnow
from dispatchwire.store import Base, UTCDateTime

__all__ = ["PushJob", "PushSubscription"]


class PushSubscription(Base):
    """A device that takes pushes: a browser's Web Push subscription or an FCM token."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # webpush | fcm
    # The Web Push endpoint or the FCM token: one device, whoever holds it now.
    address: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str | None] = mapped_column(String(100))
    auth: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))


class PushJob(Base):
    """One push to one device: sent by whichever process claims it first, retried until
    `ends_at`; `due_at` is NULL once it is done."""

    __tablename__ = "push_jobs"
    __table_args__ = (Index("ix_push_jobs_due", "due_at", sqlite_where=text("due_at IS NOT NULL"),
                            postgresql_where=text("due_at IS NOT NULL")),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    kind: Mapped[str] = mapped_column(String(12))  # offer | offer_end | status
    frame: Mapped[str] = mapped_column(Text)  # the socket's frame, as the payload
    ttl_s: Mapped[int] = mapped_column(Integer)
    urgency: Mapped[str] = mapped_column(String(8))
    topic: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
