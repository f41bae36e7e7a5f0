"""The ASGI application: routes, the WebSocket gateway, and the background work of a process.

Where things live (each domain owns its models, schemas, service and views):

    transports  */views.py (REST), gateway/ (the WebSocket), http/ (uvicorn, fast lane, errors),
                web/ (pages), cli.py
    services    auth, masters, orders, dispatch (answering offers), location, chat, admin: the
                rules, by role
    dispatch    dispatch/rounds.py: who gets an offer (eligibility, ranking); offers.py: the
                offer made and ended; expiry.py: deadlines
    events      events/outbox.py: stored with the transaction, published after it (broker/)
    store       store/: the database, its unit of work, SQL; actors.py, errors.py, settings.py

Imports run downward only. An order's way from `POST /api/orders` to a master's socket:
orders.views -> orders.service.create_order -> dispatch.rounds.dispatch_placed_order
-> dispatch.offers.make_offer -> ctx.outbox.emit -> (commit) -> broker.publish
-> gateway.hub.Hub.deliver -> gateway.connection.Connection.send.
"""

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.types import ASGIApp

from dispatchwire import __version__
from dispatchwire.admin.views import router as admin_router
from dispatchwire.auth.views import router as auth_router
from dispatchwire.chat.views import router as chat_router
from dispatchwire.cluster import share_presence_forever
from dispatchwire.context import open_context
from dispatchwire.dispatch.expiry import run_expiry_loop, wake_on_offers
from dispatchwire.dispatch.views import router as dispatch_router
from dispatchwire.events.retention import run_retention_loop
from dispatchwire.gateway.hub import Hub
from dispatchwire.gateway.server import mount_gateway
from dispatchwire.health import router as health_router
from dispatchwire.http.errors import install_error_handlers
from dispatchwire.http.fastlane import EarlyRefusals, FastLane, lane_routes
from dispatchwire.http.json_errors import JsonErrors, OutageLog
from dispatchwire.http.openapi import declare_errors
from dispatchwire.http.overload import Overload
from dispatchwire.masters.service import count_on_shift_forever, record_last_seen_forever
from dispatchwire.masters.views import router as masters_router
from dispatchwire.masters.views import types_router
from dispatchwire.orders import views as orders
from dispatchwire.push.views import router as push_router
from dispatchwire.push.worker import run_push_loop
from dispatchwire.settings import Settings
from dispatchwire.web.docs import router as docs_router
from dispatchwire.web.views import router as web_router

__all__ = ["MAX_BODY_BYTES", "WEBSOCKET_PATH", "DispatchApp", "create_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # a request body larger than this is refused with 413
WEBSOCKET_PATH = "/ws"


class DispatchApp(FastAPI):
    """FastAPI with a layer in front of the middleware it builds (error handling, body limits):
    the fast lane, which answers the busiest routes itself (http/fastlane.py) without passing
    through those four layers (docs/performance.md, the sixth pass)."""

    def __init__(self, *, front: Callable[[ASGIApp], ASGIApp], **options: Any) -> None:
        super().__init__(**options)
        self._front = front

    def build_middleware_stack(self) -> ASGIApp:
        return self._front(super().build_middleware_stack())


def _nothing_in_front(app: ASGIApp) -> ASGIApp:
    return app


def create_app(settings: Settings | None = None, *, fast_lane: bool = True) -> FastAPI:
    """The app; with `fast_lane` False, every request goes through FastAPI's routes (the tests
    hold the two to the same answers)."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_context(settings) as ctx:
            app.state.ctx = ctx
            if settings.demo:
                from dispatchwire.demo import ensure_demo_accounts

                await ensure_demo_accounts(ctx)
            app.state.hub = hub = Hub(ctx)
            wake_on_offers(ctx)
            loops = [asyncio.create_task(run_expiry_loop(ctx), name="expiry-loop"),
                     asyncio.create_task(hub.run_upkeep(), name="gateway-upkeep"),
                     asyncio.create_task(share_presence_forever(ctx), name="presence"),
                     asyncio.create_task(count_on_shift_forever(ctx), name="shift-count"),
                     asyncio.create_task(run_push_loop(ctx), name="push-worker"),
                     asyncio.create_task(record_last_seen_forever(ctx), name="last-seen"),
                     asyncio.create_task(run_retention_loop(ctx), name="retention")]
            log.info("dispatchwire %s ready (database %s, broker %s, node %s)", __version__,
                     "sqlite" if ctx.db.is_sqlite else "postgresql",
                     urlsplit(settings.broker_url).scheme,  # URLs may hold passwords
                     ctx.broker.node_id)
            try:
                yield
            finally:
                for task in loops:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)
                await hub.receipts.aclose()

    outages = OutageLog()  # one line every few seconds while the database is away
    # Placing an order and moving it on are the busiest requests: served by their routes'
    # endpoints without FastAPI's per-request work (http/fastlane.py).
    # New orders, and only they, are refused while requests queue (http/overload.py), by the
    # HTTP protocol itself where it can (`EarlyRefusals`, which the server finds in app.state).
    routes = lane_routes(orders.router, orders.create_order, orders.change_status)
    overload = Overload(settings.overload_queue_ms)
    front = functools.partial(FastLane, routes=routes, max_body_bytes=MAX_BODY_BYTES,
                              overload=overload, sheddable={orders.create_order},
                              outages=outages)
    app = DispatchApp(front=front if fast_lane else _nothing_in_front,
                      title="dispatchwire", version=__version__, lifespan=lifespan,
                      description="Real-time dispatch for field-service companies.",
                      docs_url=None, redoc_url=None,  # /docs from installed files: web/docs.py
                      # No OpenTelemetry here (metrics are Prometheus'): without this, FastAPI
                      # looks for its providers on every request (~15 µs).
                      telemetry={"tracing": False, "metrics": False, "logs": False})
    if fast_lane:
        app.state.early_refusals = EarlyRefusals(routes=routes, max_body_bytes=MAX_BODY_BYTES,
                                                 overload=overload,
                                                 sheddable={orders.create_order})
    install_error_handlers(app)
    for router in (auth_router, masters_router, types_router, orders.router, chat_router,
                   dispatch_router, push_router, admin_router, health_router, web_router,
                   docs_router):
        app.include_router(router)
    mount_gateway(app, path=WEBSOCKET_PATH)
    # The body limit and database outages, in JSON (the fast lane answers its own).
    app.add_middleware(JsonErrors, max_body_bytes=MAX_BODY_BYTES, outages=outages)
    declare_errors(app)
    return app
