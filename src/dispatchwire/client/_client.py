"""`Client`: one user's connection to a dispatchwire server, for any role."""

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Self

from dispatchwire.client._dedup import Dedup
from dispatchwire.client._errors import AuthError, ClientError
from dispatchwire.client._fanout import Callback, Listeners
from dispatchwire.client._http import Rest
from dispatchwire.client._link import Attempt, Link, LinkConfig
from dispatchwire.client._models import (
    Event,
    NewOffer,
    OfferExpired,
    Order,
    StatusUpdate,
    User,
    parse_event,
)
from dispatchwire.client._options import Options, ws_url_of
from dispatchwire.client._poller import OpenOffers, offer_events, status_events
from dispatchwire.client._receipts import Receipts
from dispatchwire.client._socket import SessionEnd, SocketConfig, SocketSession
from dispatchwire.client._state import Observable, State
from dispatchwire.client._tokens import TokenProvider, Tokens

__all__ = ["Client"]

log = logging.getLogger("dispatchwire.client")


class Client:
    """One user's live connection to a server: the socket (kept up, resumed, polled around)
    and the REST calls, for any role. `MasterClient`, `CustomerClient` and `AdminClient` add
    what each role does. Use it as `async with Client(...) as client:`.

    Args:
        url: the server's HTTP address (`http://127.0.0.1:3000`).
        email, password: log in with these, and again whenever the token runs out.
        token: a JWT to start with; alone, the client stops (`AuthError`) when it runs out.
        token_provider: `async () -> str`, a fresh token of the same user; used instead of
            logging in.
        last_event_id: resume from here: the first socket replays every event after it.
        options: an `Options`; the defaults suit production.
        ws_url: the socket's address, when it is not `url` + `/ws`.
        on_attempt: called with an `Attempt` before each connection attempt.
        on_frame: called with every frame the server sends (replayed repeats excepted).
    """

    role: ClassVar[str | None] = None  # the role a subclass insists on

    def __init__(self, url: str, *, email: str | None = None, password: str | None = None,
                 token: str | None = None, token_provider: TokenProvider | None = None,
                 last_event_id: int | None = None, options: Options | None = None,
                 ws_url: str | None = None, on_attempt: Callable[[Attempt], None] | None = None,
                 on_frame: Callable[[dict[str, Any]], None] | None = None) -> None:
        if token_provider is None and (email is None or password is None) and token is None:
            raise ValueError("give email and password, a token, or a token_provider")
        self.url, self.ws_url = url.rstrip("/"), ws_url or ws_url_of(url)
        self.options = options or Options()
        self._credentials = (email, password)
        provider = token_provider or (self._login if email and password else None)
        self._tokens = Tokens(provider, token)
        self._rest = Rest(self.url, self._tokens, timeout=self.options.http_timeout)
        self.state: Observable[State] = Observable(State.CONNECTING)
        """The connection state; see `State`."""
        self.error: ClientError | None = None
        """The error that closed the client, if one did."""
        self._dedup = Dedup(last_event_id)
        self._receipts = Receipts(last_event_id)
        # A client with `on_frame` has handled a frame once the hook returned: what it keeps
        # for listeners that may never come (`watch` has none) must not hold the acks back.
        self._listeners = Listeners(self._fail, receipts=self._receipts,
                                    hold_backlog=on_frame is None,
                                    queue_size=self.options.queue_size)
        self._open_offers, self._seq = OpenOffers(), 0
        self._known: dict[int, str] = {}
        self._baseline_taken = False
        self._poll_lock = asyncio.Lock()
        self._on_reload: list[Callable[[], object]] = []
        self._user: User | None = None
        self._on_raw_frame = on_frame
        self._link = self._make_link(on_attempt)
        self._task: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    def _make_link(self, on_attempt: Callable[[Attempt], None] | None) -> Link:
        options = self.options
        config = LinkConfig(options.backoff, options.max_attempts, options.poll,
                            options.poll_interval, options.poll_after_attempts)
        return Link(config, self.state, open_session=self._open_session,
                    renew_token=self._renew_token, poll=self._poll_safely,
                    reload=self._reload_safely, on_attempt=on_attempt)

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Log in (or check the token), then connect; returns once the socket is live or its
        first attempt failed (the client then goes on retrying and polling)."""
        try:
            self._user = await self._rest.me()
            if self.role is not None and self._user.role != self.role:
                raise ClientError(f"{self._user.email} is a {self._user.role}, not a {self.role}")
            await self._on_start()
        except BaseException:
            self.state.set(State.CLOSED)
            await self._rest.aclose()
            raise
        self._task = asyncio.get_running_loop().create_task(self._supervise())
        await self.state.wait_for(State.CONNECTED, State.RECONNECTING, State.POLLING,
                                  State.CLOSED)
        if self.error is not None:
            await self.close()  # the caller gets no client to close: end the shift here
            raise self.error

    async def close(self) -> None:
        """Stop: end the shift (masters), close the socket (1000) and end the iterators. Safe
        to call more than once; every caller waits for the one closing."""
        if self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._closer)

    async def _close(self) -> None:
        try:
            if self._task is not None:  # started: the shift is ours to end
                await self._on_close()
        finally:
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._finish()
            await self._listeners.stop(within=5.0)
            await self._rest.aclose()

    async def wait_closed(self) -> None:
        """Wait until the client is closed; raises the error that closed it, if any."""
        await self.state.wait_for(State.CLOSED)
        if self.error is not None:
            raise self.error

    async def _on_start(self) -> None:
        """Role-specific work after logging in (masters start their shift)."""

    async def _on_close(self) -> None:
        """Role-specific work before closing (masters end their shift)."""

    async def _supervise(self) -> None:
        try:
            await self._link.run()
        except ClientError as exc:
            self._fail(exc)

    def _fail(self, error: ClientError) -> None:
        log.error("dispatchwire client stopped: %s", error)
        if self.error is None:
            self.error = error
        if self._task is not None:
            self._task.cancel()  # the session stops at its next await
        self._finish()

    def _finish(self) -> None:
        self.state.set(State.CLOSED)
        self._listeners.end(self.error)

    # -- who, and where the stream stands ----------------------------------------------------

    @property
    def user(self) -> User:
        """The logged-in user (known once started)."""
        if self._user is None:
            raise RuntimeError("the client has not started yet")
        return self._user

    @property
    def last_event_id(self) -> int | None:
        """The newest `eventId` seen; persist it and pass it back as `last_event_id` to resume
        after a restart of the application."""
        return self._dedup.cursor

    @property
    def handled_event_id(self) -> int | None:
        """The newest `eventId` up to which the application has handled every event (what the
        client acks); the safest id to persist for a restart."""
        return self._receipts.handled.value

    @property
    def token(self) -> str | None:
        """The current token (renewed as it runs out)."""
        return self._tokens.token

    async def _login(self) -> str:
        email, password = self._credentials
        assert email is not None and password is not None
        return await self._rest.login(email, password)

    # -- events ------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on (and those that came before anyone listened), once each:
        `NewOffer`, `OfferExpired`, `StatusUpdate`. Ends when the client closes (raising the
        error that closed it, if any)."""
        return self._listeners.iterate((NewOffer, OfferExpired, StatusUpdate))

    def on_event(self, callback: Callback) -> Callable[[], None]:
        """Call `callback(event)` (a function or a coroutine function) for every event, one
        at a time, in order; returns a function that unsubscribes."""
        return self._listeners.add_callback(callback, (NewOffer, OfferExpired, StatusUpdate))

    def status_updates(self) -> AsyncIterator[StatusUpdate]:
        """The `StatusUpdate`s of the user's orders, as `events()` gives them."""
        return self._listeners.iterate((StatusUpdate,))

    def on_status_update(self, callback: Callback) -> Callable[[], None]:
        """Call `callback(update)` for every `StatusUpdate`; returns the unsubscriber."""
        return self._listeners.add_callback(callback, (StatusUpdate,))

    # -- REST --------------------------------------------------------------------------------

    async def orders(self, *, status: str | None = None, limit: int = 100) -> list[Order]:
        """The orders the user may see, newest first (`GET /api/orders`)."""
        return await self._rest.orders(status=status, limit=limit)

    async def order(self, order_id: int) -> Order:
        """One order (`GET /api/orders/{id}`); ApiError 404 if the user may not see it."""
        return await self._rest.order(order_id)

    async def set_status(self, order_id: int, status: str) -> Order:
        """Move an order on (`in_progress`, `completed`) or cancel it; ApiError 409 if the
        rules forbid that move now."""
        data = await self._rest.call("POST", f"/api/orders/{order_id}/status",
                                     json={"status": status})
        return Order.from_json(data)

    async def poll_now(self) -> None:
        """Poll the REST API once, as the fallback does: pending offers (masters) and the
        user's orders; whatever the application was not told yet is handed to it."""
        async with self._poll_lock:
            events: list[Event] = []
            if self._wants_offers:
                polled_after = self._seq + 1
                events += offer_events(await self._rest.pending(), self._open_offers,
                                       polled_after=polled_after)
            orders = await self._rest.orders()
            updates = status_events(orders, self._known, user_id=self.user.id,
                                    master_id=self.user.master_id)
            if self._baseline_taken:  # the first look is the baseline, not news
                events += updates
            self._baseline_taken = True
            for event in events:
                self._deliver(event)

    def on_reload(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call `callback()` (a function or a coroutine function) each time the client has
        reloaded its state by REST because the server no longer had the events it missed
        (they were older than the server's retention: `auth_success` said `recovered:
        false`). The reload hands over what changed as events (new and gone offers, order
        statuses); reload here whatever else the application keeps. Returns the
        unsubscriber."""
        self._on_reload.append(callback)
        return lambda: self._on_reload.remove(callback) if callback in self._on_reload else None

    async def _reload(self) -> None:
        """Poll, the orders' statuses counting as news (not as a first look), then tell the
        application."""
        log.info("the events after %s were deleted on the server: reloading by REST",
                 self._dedup.cursor)
        self._baseline_taken = True
        await self.poll_now()
        for callback in list(self._on_reload):
            if inspect.isawaitable(result := callback()):
                await result

    # -- the socket's side -------------------------------------------------------------------

    @property
    def _wants_offers(self) -> bool:
        return self.user.role == "master" and self.options.subscribe

    async def _open_session(self) -> SessionEnd:
        options = self.options
        config = SocketConfig(self.ws_url, options.ping_interval, options.keepalive,
                              options.open_timeout, self._wants_offers, options.renew_tokens,
                              options.acks)
        # A client that acks resumes after what was handled: with `acks` the server takes
        # `lastEventId` as a receipt. The events seen but still held come again and are
        # dropped as repeats.
        cursor = self._receipts.resume_point() if options.acks else self._dedup.cursor
        session = SocketSession(config, self._tokens, cursor=cursor,
                                on_live=self._link.went_live, on_frame=self._on_frame,
                                receipts=self._receipts)
        return await session.run()

    async def _renew_token(self, stale: str | None) -> None:
        try:
            await self._tokens.refresh(stale=stale)
        except AuthError:
            raise
        except ClientError as exc:
            log.info("could not get a new token yet: %s", exc)

    async def _poll_safely(self) -> None:
        try:
            await self.poll_now()
        except AuthError as exc:
            self._fail(exc)
        except ClientError as exc:
            log.info("poll failed: %s", exc)

    async def _reload_safely(self) -> None:
        try:
            await self._reload()
        except AuthError as exc:
            self._fail(exc)
        except ClientError as exc:  # the fallback polls (or the next resume) catch up instead
            log.warning("reload failed: %s", exc)

    def _on_frame(self, frame: dict[str, Any]) -> None:
        event_id = frame.get("eventId")
        if not isinstance(event_id, int):
            self._handle_frame(frame)
        elif self._dedup.new_frame(event_id):  # not a repeat from before the resume point
            # Held while it goes to the hook and the listeners, so that a frame no one wants
            # (or a repeat of what a poll found) still moves the cursor past it.
            self._receipts.hold(event_id)
            try:
                self._handle_frame(frame)
            finally:
                self._receipts.release(event_id)

    def _handle_frame(self, frame: dict[str, Any]) -> None:
        if self._on_raw_frame is not None:
            self._on_raw_frame(frame)
        try:
            event = parse_event(frame)
        except (KeyError, TypeError, ValueError):
            log.warning("a malformed %s frame was ignored", frame.get("type"))
            return
        if event is not None:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        if not self._dedup.admit(event):
            return
        self._seq += 1
        if isinstance(event, NewOffer):
            self._open_offers.add(event.offer, self._seq)
        elif isinstance(event, OfferExpired):
            self._open_offers.discard(event.assignment_id)
        else:
            self._known[event.order_id] = event.status
        self._listeners.emit(event)
