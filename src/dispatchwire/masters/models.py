from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatchwire.auth.models import User
from dispatchwire.clock import utcnow
from dispatchwire.db import Base, UTCDateTime

APPLIANCE_TYPES_EXAMPLE = ("washing_machine", "refrigerator", "dishwasher", "oven")


class Master(Base):
    """A technician's profile; one per user with the `master` role."""

    __tablename__ = "masters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    # Appliance types this master repairs; empty means any.
    specializations: Mapped[list[str]] = mapped_column(JSON, default=list)
    on_shift: Mapped[bool] = mapped_column(Boolean, default=False)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # Since when the master has had no job; dispatch prefers the one idle longest.
    idle_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    def takes(self, appliance_type: str) -> bool:
        return not self.specializations or appliance_type in self.specializations
