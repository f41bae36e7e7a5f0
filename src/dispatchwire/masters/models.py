"""The masters table: a technician's profile, one per user with the `master` role."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatchwire.auth.models import User
from dispatchwire.clock import utcnow
from dispatchwire.store import Base, UTCDateTime


class Master(Base):
    """A technician's profile; one per user with the `master` role."""

    __tablename__ = "masters"
    # Dispatch walks the masters on shift, idle longest first, and stops after a few.
    __table_args__ = (
        Index("ix_masters_shift_idle", "on_shift", "idle_since", "id"),
        Index("ix_masters_cooldown_until", "cooldown_until",
              sqlite_where=text("cooldown_until IS NOT NULL"),
              postgresql_where=text("cooldown_until IS NOT NULL")),
    )

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
    # Vetted by an admin (DISPATCHWIRE_MASTERS_NEED_APPROVAL): only then may he start a shift.
    approved: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Deactivated by an admin: off shift, cannot log in.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # After a decline he is offered nothing until then (DISPATCHWIRE_DECLINE_COOLDOWN_S); the
    # expiry loop clears it when it passes and offers him what waits.
    cooldown_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last time he was seen (socket auth, poll, any call), written at most once a minute.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # "unnested": under an order's outer join to its master this renders as a chain of LEFT
    # JOINs; a nested `LEFT JOIN (masters JOIN users)` makes SQLite materialize the join of
    # every master, on each read of an order.
    user: Mapped[User] = relationship(lazy="joined", innerjoin="unnested")  # type: ignore[arg-type]
