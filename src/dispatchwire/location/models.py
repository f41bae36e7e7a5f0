"""The newest position of each master on a job: one row per master, replaced, never a trail."""

from datetime import datetime

from sqlalchemy import Float, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from dispatchwire.store import Base, UTCDateTime

__all__ = ["MasterLocation"]


class MasterLocation(Base):
    """Where a master was when he last shared his position, and for which job.

    The order's client and admins see it while that order is `assigned` or `in_progress`
    (`orders.queries`); `order_id` ties it to the job it was shared for, so a later job's
    client never sees where the master was before accepting it.
    """

    __tablename__ = "master_locations"

    master_id: Mapped[int] = mapped_column(
        ForeignKey("masters.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the server kept it
    # When the master's own coordinates (dispatch's "nearest") last took a position from here:
    # at most once a minute.
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


