"""Every table, imported in one place for Alembic and for start-up."""

from dispatchwire.auth.models import User
from dispatchwire.db import Base
from dispatchwire.dispatch.models import Assignment
from dispatchwire.events.models import Event
from dispatchwire.masters.models import Master
from dispatchwire.orders.models import Order

__all__ = ["Assignment", "Base", "Event", "Master", "Order", "User"]
