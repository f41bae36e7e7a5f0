"""What the server sends, as frozen dataclasses: offers, orders, users and the three events."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["Contact", "Event", "NewOffer", "Offer", "OfferExpired", "Order", "Source",
           "StatusUpdate", "User", "parse_event"]

Source = Literal["socket", "poll"]
"""How an event reached the client: pushed on the socket (live or replayed), or found by a
poll of the REST API while the socket was down."""


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class User:
    """The logged-in user (`GET /api/auth/me`); `master_id` for masters."""

    id: int
    email: str
    name: str
    role: str
    master_id: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "User":
        return cls(id=data["id"], email=data["email"], name=data["name"], role=data["role"],
                   master_id=data.get("masterId"))


@dataclass(frozen=True)
class Offer:
    """An offer of an order to a master, with basic information only (nothing about the
    client). Accept it before `expires_at`. From the REST API (`pending()`) it also says when
    and how the server knew it reached the master (`delivered_at`, `delivered_via`: `socket`,
    `poll`, `answer` or `pong`); the socket's frame does not carry them."""

    id: int
    order_id: int
    appliance_type: str
    problem: str
    address: str
    expires_at: datetime
    created_at: datetime
    delivered_at: datetime | None = field(default=None, compare=False)
    delivered_via: str | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Offer":
        delivered_at = data.get("deliveredAt")
        return cls(id=data["id"], order_id=data["orderId"],
                   appliance_type=data["applianceType"], problem=data["problem"],
                   address=data["address"], expires_at=_time(data["expiresAt"]),
                   created_at=_time(data["createdAt"]),
                   delivered_at=_time(delivered_at) if delivered_at else None,
                   delivered_via=data.get("deliveredVia"))

    def seconds_left(self, now: datetime | None = None) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return (self.expires_at - (now or datetime.now(UTC))).total_seconds()


@dataclass(frozen=True)
class Contact:
    """A person's name and phone, as an order shows its client and, once accepted, master."""

    id: int
    name: str
    phone: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Contact | None":
        return None if data is None else cls(id=data["id"], name=data["name"],
                                             phone=data.get("phone"))


@dataclass(frozen=True)
class Order:
    """An order as its client, its accepted master and admins see it."""

    id: int
    status: str
    appliance_type: str
    problem: str
    address: str
    client_id: int
    master_id: int | None
    client: Contact
    master: Contact | None
    created_at: datetime
    updated_at: datetime
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Order":
        return cls(id=data["id"], status=data["status"], appliance_type=data["applianceType"],
                   problem=data["problem"], address=data["address"],
                   client_id=data["clientId"], master_id=data.get("masterId"),
                   client=Contact(data["client"]["id"], data["client"]["name"],
                                  data["client"].get("phone")),
                   master=Contact.from_json(data.get("master")),
                   created_at=_time(data["createdAt"]), updated_at=_time(data["updatedAt"]),
                   raw=data)


@dataclass(frozen=True)
class NewOffer:
    """`new_assignment`: an offer was made to this master."""

    offer: Offer
    event_id: int | None = None
    source: Source = "socket"


@dataclass(frozen=True)
class OfferExpired:
    """`assignment_expired`: an offer ran out of time or was withdrawn (also reported by a
    poll when an offer leaves the pending list without this client answering it)."""

    assignment_id: int
    event_id: int | None = None
    source: Source = "socket"


@dataclass(frozen=True)
class StatusUpdate:
    """`order_status_update`: an order of this user changed status."""

    order_id: int
    status: str
    event_id: int | None = None
    source: Source = "socket"


Event = NewOffer | OfferExpired | StatusUpdate
"""One of the three events the application is handed."""


def parse_event(frame: dict[str, Any]) -> Event | None:
    """The event a socket frame carries, or None for any other frame."""
    kind, event_id = frame.get("type"), frame.get("eventId")
    if kind == "new_assignment":
        return NewOffer(Offer.from_json(frame["assignment"]), event_id)
    if kind == "assignment_expired":
        return OfferExpired(frame["assignmentId"], event_id)
    if kind == "order_status_update":
        return StatusUpdate(frame["orderId"], frame["status"], event_id)
    return None
