from typing import Any

from pydantic import EmailStr, Field

from dispatchwire.auth.schemas import ApplianceType, Phone
from dispatchwire.schemas import CamelModel, Text, Timestamp


class SubscriptionOut(CamelModel):
    user_id: int
    master_id: int
    subscribed: bool
    on_shift: bool
    last_ping: Timestamp
    is_active: bool


class WebsocketStats(CamelModel):
    """The seed's `GET /api/admin/websocket/stats` shape, unchanged."""

    total_connected: int
    total_subscribed: int
    active_subscriptions: int
    on_shift_subscriptions: int
    subscriptions: list[SubscriptionOut]


class AdminMasterOut(CamelModel):
    """A master as admins see him, with his figures (offers made to him, by how they ended)."""

    master_id: int
    user_id: int
    name: str
    email: str
    phone: str | None
    specializations: list[str]
    approved: bool
    active: bool
    on_shift: bool
    connected: bool = Field(description="holds an authenticated socket on any node")
    last_seen_at: Timestamp | None = Field(
        description="last socket auth, poll or call (recorded at most once a minute)")
    offers: int
    accepted: int
    rejected: int
    expired: int = Field(description="ran out of time (reason `timeout`)")
    undelivered: int


class AdminMasterIn(CamelModel):
    """A master made by an admin: approved at once."""

    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: Text = Field(min_length=1, max_length=200)
    phone: Phone = None
    specializations: list[ApplianceType] = Field(max_length=50,
                                                 description="empty takes any type")


class AdminMasterPatch(CamelModel):
    """What an admin changes of a master: at least one of them."""

    approved: bool | None = None
    active: bool | None = Field(None, description="false: ends his shift, withdraws his offers,"
                                " closes his sockets; he cannot log in until made active")
    specializations: list[ApplianceType] | None = Field(None, max_length=50)


class Percentiles(CamelModel):
    """Seconds; null when there is nothing to measure. Percentiles interpolate linearly
    between the two nearest values (as PostgreSQL's `percentile_cont`)."""

    p50: float | None
    p90: float | None
    max: float | None


class OfferCounts(CamelModel):
    """The offers made in the window, by how each ended (`made` counts the pending too)."""

    made: int
    accepted: int
    rejected: int
    expired: int = Field(description="ran out of time (reason `timeout`)")
    undelivered: int
    taken: int = Field(description="another master accepted the order first")
    withdrawn: int


class MasterStats(CamelModel):
    master_id: int
    offers: int
    accepted: int
    rejected: int
    expired: int
    undelivered: int
    median_answer_s: float | None = Field(
        description="median seconds from an offer to his accept or decline")


class DispatchStats(CamelModel):
    """`GET /api/admin/dispatch/stats`: orders placed and offers made since `since`."""

    since: Timestamp
    orders_placed: int
    orders_assigned: int = Field(description="of the orders placed, those a master accepted")
    time_to_accept_s: Percentiles = Field(
        description="from an order's placement to its accept, over the orders assigned")
    offers: OfferCounts
    masters: list[MasterStats]


class TimelineStepOut(CamelModel):
    """One step of an order's timeline."""

    at: Timestamp
    kind: str
    assignment_id: int | None = None
    master_id: int | None = None
    detail: dict[str, Any]


class BoardOfferOut(CamelModel):
    """A pending offer of a waiting order: who holds it, until when, whether it arrived."""

    assignment_id: int
    master_id: int
    name: str
    expires_at: Timestamp
    delivered_at: Timestamp | None


class AttentionOut(CamelModel):
    reason: str = Field(description="`declined`, `waiting` or `no_master`")
    at: Timestamp


class WaitingMasters(CamelModel):
    declaring: int = Field(description="approved, active masters who may take the order's type"
                           " (they declare it, or declare none)")
    on_shift: int = Field(description="of them, on shift now")


class WaitingOrderOut(CamelModel):
    """An order in `new` on the dispatch board. No offer: `refusedBy` and `masters` say why
    (no one takes the type, no one is on shift, those on shift are busy or refused it)."""

    order_id: int
    appliance_type: str
    address: str
    created_at: Timestamp
    offers: list[BoardOfferOut]
    attention: list[AttentionOut]
    refused_by: int = Field(description="masters who declined it or let its offer end")
    masters: WaitingMasters


class Bucket(CamelModel):
    up_to_s: int | None = Field(description="the bucket's upper bound in seconds (null: beyond"
                                " the last)")
    count: int


class AcceptTimesOut(CamelModel):
    """How long the orders placed since `since` waited for a master's accept."""

    since: Timestamp
    buckets: list[Bucket]
