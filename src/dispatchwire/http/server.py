"""How uvicorn serves the application: HTTP through the admission gate, upgrades to the gateway."""

import functools
from collections.abc import Callable
from typing import Any

import uvicorn

from dispatchwire.gateway.server import MAX_MESSAGE_BYTES, GatewayProtocol
from dispatchwire.http.admission import Admission, AdmittedHttpProtocol
from dispatchwire.settings import Settings

__all__ = ["uvicorn_config"]


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The one uvicorn configuration, for `dispatchwire serve` and the tests alike."""
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": settings.log_level.lower(),
        "access_log": settings.access_log,
        "proxy_headers": True,
        "log_config": None,  # one format for all: uvicorn logs through the root logger
        "http": functools.partial(AdmittedHttpProtocol, admission=Admission(),
                                  early_refusals=getattr(getattr(app, "state", None),
                                                         "early_refusals", None)),
        "ws": _gateway_protocol(app), "ws_max_size": MAX_MESSAGE_BYTES,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "ws_per_message_deflate": settings.ws_compression,
        **overrides,
    }
    return uvicorn.Config(app, **options)


def _gateway_protocol(app: Any) -> Callable[..., GatewayProtocol]:
    def make(*args: Any, **kwargs: Any) -> GatewayProtocol:
        return GatewayProtocol(*args, app=app, **kwargs)

    return make
