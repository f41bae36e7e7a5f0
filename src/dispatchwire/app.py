"""The ASGI application: routes, error mapping, and the lifespan that runs the background work."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from dispatchwire import __version__
from dispatchwire.admin.views import router as admin_router
from dispatchwire.auth.views import router as auth_router
from dispatchwire.cluster import share_presence_forever
from dispatchwire.context import open_context
from dispatchwire.dispatch.expiry import run_expiry_loop, wake_on_offers
from dispatchwire.dispatch.views import router as dispatch_router
from dispatchwire.errors import DomainError, log_refusal
from dispatchwire.gateway.hub import Hub
from dispatchwire.health import router as health_router
from dispatchwire.http_errors import JsonErrors, http_error, internal_error
from dispatchwire.masters.views import router as masters_router
from dispatchwire.openapi_errors import declare_errors
from dispatchwire.orders.fastlane import OrderFastLane
from dispatchwire.orders.views import router as orders_router
from dispatchwire.settings import Settings
from dispatchwire.web.views import router as web_router

__all__ = ["create_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # a request body larger than this is refused with 413


def create_app(settings: Settings | None = None) -> FastAPI:
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
                     asyncio.create_task(share_presence_forever(ctx), name="presence")]
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

    app = FastAPI(title="dispatchwire", version=__version__, lifespan=lifespan,
                  description="Real-time dispatch for field-service companies.",
                  # No OpenTelemetry here (metrics are Prometheus'): without this, FastAPI
                  # looks for its providers on every request (~15 µs).
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.add_middleware(OrderFastLane)
    # Outermost: the body limit and database outages, in JSON, for the fast lane too.
    app.add_middleware(JsonErrors, max_body_bytes=MAX_BODY_BYTES)
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, internal_error)
    for router in (auth_router, masters_router, orders_router, dispatch_router, admin_router,
                   health_router, web_router):
        app.include_router(router)
    declare_errors(app)
    return app


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each bad field; the input itself is never echoed (it may hold a password)."""
    detail = [{"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
              for error in exc.errors()]
    log_refusal(request.method, request.url.path, 422,
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in detail))
    return JSONResponse({"detail": detail}, status_code=422)


async def _domain_error(request: Request, exc: DomainError) -> Response:
    log_refusal(request.method, request.url.path, exc.status, exc.message)
    return Response(exc.json_body(), status_code=exc.status, headers=exc.headers,
                    media_type="application/json")
