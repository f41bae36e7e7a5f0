from datetime import datetime

from dispatchwire.orders.schemas import OrderOut
from dispatchwire.schemas import CamelModel


class OfferOut(CamelModel):
    """An offer as a master sees it before accepting: nothing about the client."""

    id: int
    order_id: int
    appliance_type: str
    problem: str
    address: str
    expires_at: datetime
    created_at: datetime


class AssignmentOut(OfferOut):
    """An offer as its master sees it after answering, and as admins see it."""

    master_id: int
    status: str
    resolved_at: datetime | None = None


class AcceptOut(CamelModel):
    assignment: AssignmentOut
    order: OrderOut


class RejectOut(CamelModel):
    assignment: AssignmentOut


class ManualOfferIn(CamelModel):
    order_id: int
    master_id: int
