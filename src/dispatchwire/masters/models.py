"""The masters table: a technician's profile, one per user with the `master` role."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatchwire.auth.models import User
from dispatchwire.clock import utcnow
from dispatchwire.store import Base, UTCDateTime


class Master(Base):
    """A technician's profile; one per user with the `master` role."""

    __tablename__ = "masters"
    # Dispatch walks the masters on shift, idle longest first, and stops after a few.
    __table_args__ = (Index("ix_masters_shift_idle", "on_shift", "idle_since", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    # Appliance types this master repairs; empty means any.
    specializations: Mapped[list[str]] = mapped_column(JSON, default=list)
    on_shift: Mapped[bool] = mapped_column(Boolean, default=False)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # Since when the master has had no job; dispatch prefers the one idle longest.
    idle_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Since when an offer to this master ended undelivered: none until he is next seen.
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # "unnested": under an order's outer join to its master this renders as a chain of LEFT
    # JOINs; a nested `LEFT JOIN (masters JOIN users)` makes SQLite materialize the join of
    # every master, on each read of an order.
    user: Mapped[User] = relationship(lazy="joined", innerjoin="unnested")  # type: ignore[arg-type]
