"""Every table, imported in one place for Alembic and for start-up."""

from dispatchwire.auth.models import User
from dispatchwire.chat.models import ChatMessage
from dispatchwire.dispatch.models import Assignment
from dispatchwire.events.models import Event
from dispatchwire.location.models import MasterLocation
from dispatchwire.masters.models import Master
from dispatchwire.orders.models import Escalation, Order, OrderStep
from dispatchwire.push.models import PushJob, PushSubscription
from dispatchwire.store import Base

__all__ = ["Assignment", "Base", "ChatMessage", "Escalation", "Event", "Master", "MasterLocation",
           "Order", "OrderStep", "PushJob", "PushSubscription", "User"]
