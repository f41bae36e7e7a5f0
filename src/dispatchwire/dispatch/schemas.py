
from dispatchwire.orders.schemas import OrderOut
from dispatchwire.schemas import CamelModel, Id, Timestamp


class OfferOut(CamelModel):
    """An offer as a master sees it before accepting: nothing about the client."""

    id: int
    order_id: int
    appliance_type: str
    problem: str
    address: str
    expires_at: Timestamp
    created_at: Timestamp


class AssignmentOut(OfferOut):
    """An offer as its master sees it after answering, and as admins see it."""

    master_id: int
    status: str
    resolved_at: Timestamp | None = None


class AcceptOut(CamelModel):
    assignment: AssignmentOut
    order: OrderOut


class RejectOut(CamelModel):
    assignment: AssignmentOut


class ManualOfferIn(CamelModel):
    order_id: Id
    master_id: Id
