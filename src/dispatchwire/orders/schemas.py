"""The shapes of an order on the wire."""

from typing import Literal

from pydantic import Field

from dispatchwire.auth.schemas import ApplianceType
from dispatchwire.schemas import CamelModel, Text, Timestamp

# `models.OrderStatus` as a request may name it (strict validation takes only enum members from
# Python objects, and the fast lane validates Python objects); a test holds the two equal.
OrderStatus = Literal["new", "assigned", "in_progress", "completed", "cancelled"]


class OrderIn(CamelModel):
    appliance_type: ApplianceType
    problem: Text = Field(min_length=1, max_length=2000)
    address: Text = Field(min_length=1, max_length=500)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class StatusIn(CamelModel):
    status: OrderStatus


class Contact(CamelModel):
    id: int
    name: str
    phone: str | None


class Position(CamelModel):
    lat: float
    lon: float
    at: Timestamp = Field(description="when the server received it")


class MasterContact(Contact):
    """Who is coming: `id` is the masterId."""

    location: Position | None = Field(
        None, description="the master's newest position on this job: for the order's client and "
        "admins while it is assigned or in progress, null otherwise and for anyone else")


class OrderOut(CamelModel):
    """An order as its client, its accepted master and admins see it."""

    id: int
    status: str
    appliance_type: str
    problem: str
    address: str
    lat: float | None
    lon: float | None
    client_id: int
    master_id: int | None
    client: Contact
    master: MasterContact | None = Field(None,
                                         description="who is coming, once a master accepts")
    created_at: Timestamp
    updated_at: Timestamp
