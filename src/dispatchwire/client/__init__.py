"""`dispatchwire.client`: an asyncio client for dispatchwire servers, for every role.

The Python counterpart of the seed's Android `WebSocketManager`. A client logs in (or takes a
token, or asks a token provider), keeps one socket open, and hands the application each
event once, whether it came live, in a replay after a reconnect, or from polling the REST
API while the socket was down::

    async with MasterClient("http://127.0.0.1:3000", email=..., password=...) as master:
        async for offer in master.offers():
            order = await master.accept(offer)

What it does for you:

- **Shift** (masters): started by `start()` / `async with`, ended by `close()`.
- **Socket**: `auth` right after connecting, `subscribe_assignments` (masters), an
  application `ping` every `Options.ping_interval` (45 s).
- **Reconnect**: after a drop, capped exponential backoff with full jitter
  (`Options.backoff`, `Backoff(base=1, cap=60)`: retry *n* waits `uniform(0, min(60,
  2**n))` s), resuming with `lastEventId` = the newest `eventId` seen. Close 4409 (replaced
  by a newer socket of the same user) is not retried: the client closes with `Replaced`.
- **Polling**: after `Options.poll_after_attempts` failed attempts the state turns to
  `polling`: `GET /api/assignments/pending` (masters) and `GET /api/orders` at once and every
  `Options.poll_interval` (60 s), until the socket is back.
- **Too old to replay**: when the server no longer has the events after `lastEventId` (its
  retention, a week by default), `auth_success` says `recovered: false`; the client then
  reloads by REST (pending offers, orders' statuses) and calls `on_reload` callbacks.
- **Once**: events carry `source` ("socket" or "poll"); repeats are dropped by `eventId` and
  by content (offer id, expired offer id, order status), so an offer found by a poll is not
  handed over again when the replay brings it.
- **Receipts**: `"acks": true` on `auth`, and an `ack` (cumulative) once the application has
  handled each event: a callback returned, an iterator handed it out (`_receipts.py`);
  `handled_event_id` is how far that goes. A reconnect resumes after the handled events.
- **Tokens**: renewed on the open socket before they run out (the server would close it with
  4401), by logging in again or calling `token_provider`; a 401 on a REST call or a 4401 on
  the socket gets a fresh token too, then carries on from `last_event_id`.

State: `client.state` is an `Observable[State]` (`CONNECTING`, `CONNECTED`, `RECONNECTING`,
`POLLING`, `CLOSED`): read `.value`, `subscribe(callback)`, `await wait_for(State.CONNECTED)`
or `async for state in client.state.changes()`.

Events: `NewOffer`, `OfferExpired`, `StatusUpdate`, as async iterators (`events()`,
`offers()`, `expiries()`, `status_updates()`) or callbacks (`on_event`, `on_offer`,
`on_expiry`, `on_status_update`; plain or `async` functions, run one at a time in order).
Events that arrive before anything listens are kept for the first listener. Never block an
iterator's loop for long: slow work belongs in a task.

`run_until_stopped(main())` runs an application until it ends or the process gets SIGINT,
SIGTERM or SIGHUP; a signal cancels it, so that `async with` ends the shift on the way out.

Errors are drawn in `dispatchwire.client._errors` (`ClientError` and below). The full guide
is `docs/client.md`.
"""

from dispatchwire.client._backoff import Backoff
from dispatchwire.client._client import Client
from dispatchwire.client._errors import (
    ApiError,
    AuthError,
    ClientError,
    ListenerOverflow,
    Replaced,
    Unreachable,
)
from dispatchwire.client._link import Attempt
from dispatchwire.client._models import (
    Contact,
    Event,
    NewOffer,
    Offer,
    OfferExpired,
    Order,
    Source,
    StatusUpdate,
    User,
)
from dispatchwire.client._options import Options
from dispatchwire.client._roles import AdminClient, CustomerClient, MasterClient
from dispatchwire.client._run import run_until_stopped
from dispatchwire.client._state import Observable, State
from dispatchwire.client._tokens import TokenProvider

__all__ = [
    "AdminClient",
    "ApiError",
    "Attempt",
    "AuthError",
    "Backoff",
    "Client",
    "ClientError",
    "Contact",
    "CustomerClient",
    "Event",
    "ListenerOverflow",
    "MasterClient",
    "NewOffer",
    "Observable",
    "Offer",
    "OfferExpired",
    "Options",
    "Order",
    "Replaced",
    "Source",
    "State",
    "StatusUpdate",
    "TokenProvider",
    "Unreachable",
    "User",
    "run_until_stopped",
]
