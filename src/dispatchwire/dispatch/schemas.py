"""The shapes of an offer: as its master sees it before and after answering, and as admins do."""

from datetime import datetime
from typing import Any, Protocol

from pydantic import Field

from dispatchwire.clock import isoformat
from dispatchwire.dispatch.models import DeliveredVia
from dispatchwire.orders.schemas import OrderOut
from dispatchwire.schemas import CamelModel, Id, Timestamp

__all__ = ["AcceptOut", "AssignmentOut", "ManualOfferIn", "OfferOut", "OfferedOrder",
           "RejectOut"]


class OfferedOrder(Protocol):
    """What an offer tells a master about its order."""

    @property
    def id(self) -> int: ...
    @property
    def appliance_type(self) -> str: ...
    @property
    def problem(self) -> str: ...
    @property
    def address(self) -> str: ...


class OfferOut(CamelModel):
    """An offer as a master sees it before accepting: nothing about the client. Its fields but
    the delivery's are the `assignment` of the `new_assignment` event."""

    id: int
    order_id: int
    appliance_type: str
    problem: str
    address: str
    expires_at: Timestamp
    created_at: Timestamp
    delivered_at: Timestamp | None = Field(
        None, description="when the offer was proven to have reached its master")
    delivered_via: DeliveredVia | None = Field(
        None, description="how: `socket` (ack), `poll`, `answer` or `pong`")

    @classmethod
    def of(cls, *, offer_id: int, order: OfferedOrder, created_at: datetime,
           expires_at: datetime, **more: Any) -> Any:
        """The offer of `order` (as stored: not validated again), with `more` fields of a
        subclass."""
        return cls.model_construct(
            id=offer_id, order_id=order.id, appliance_type=order.appliance_type,
            problem=order.problem, address=order.address, expires_at=expires_at,
            created_at=created_at, **more)

    @staticmethod
    def event_payload(*, offer_id: int, order: OfferedOrder, created_at: datetime,
                      expires_at: datetime) -> dict[str, Any]:
        """The `new_assignment` event's fields: the offer as `of` shows it, less the delivery
        (an offer just made: nothing delivered yet). Written out, since it is built for every
        offer: through the model it cost ~10 µs, this ~3 µs. tests/dispatch/test_schemas.py
        holds the two to the same JSON."""
        return {"assignment": {
            "id": offer_id, "orderId": order.id, "applianceType": order.appliance_type,
            "problem": order.problem, "address": order.address,
            "expiresAt": isoformat(expires_at), "createdAt": isoformat(created_at)}}


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
