"""Every table, imported in one place for Alembic and for start-up."""

from dispatchwire.auth.models import User
from dispatchwire.dispatch.models import Assignment
from dispatchwire.events.models import Event
from dispatchwire.masters.models import Master
from dispatchwire.orders.models import Escalation, Order, OrderStep
from dispatchwire.push.models import PushJob, PushSubscription
from dispatchwire.store import Base

__all__ = ["Assignment", "Base", "Escalation", "Event", "Master", "Order", "OrderStep", "PushJob",
           "PushSubscription", "User"]
