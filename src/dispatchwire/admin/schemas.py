
from dispatchwire.schemas import CamelModel, Timestamp


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
