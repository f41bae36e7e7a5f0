"""The chat of an order: messages between its client, its accepted master and admins."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dispatchwire.clock import utcnow
from dispatchwire.store import Base, UTCDateTime

__all__ = ["ChatMessage"]


class ChatMessage(Base):
    """One message; its id orders an order's chat (`after=` pages by it)."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_order_id", "order_id", "id"),
        # A retried send (the same clientMessageId by the same author on the same order) finds
        # the first message instead of making a second one. NULLs never collide.
        UniqueConstraint("order_id", "author_id", "client_message_id",
                         name="uq_chat_messages_client_message"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    author_role: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    client_message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
