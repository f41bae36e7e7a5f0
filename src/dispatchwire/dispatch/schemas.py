"""The shapes of an offer: as its master sees it before and after answering, and as admins do."""

from datetime import datetime
from typing import Any, Protocol

from pydantic import Field

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

    def event_payload(self) -> dict[str, Any]:
        """The `new_assignment` event's fields (an offer just made: nothing delivered yet)."""
        return {"assignment": self.model_dump(mode="json", by_alias=True, include=_IN_EVENT)}


_IN_EVENT = {"id", "order_id", "appliance_type", "problem", "address", "expires_at",
             "created_at"}


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
