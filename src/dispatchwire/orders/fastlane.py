"""The two busiest routes, served without FastAPI's per-request machinery.

Placing an order and changing its status are what a busy dispatch floor does hundreds of times a
second. FastAPI's routing, dependency solving and body handling cost ~0.2 ms of CPU a request,
about as much as the order's own SQL. This middleware answers `POST /api/orders` and
`POST /api/orders/{id}/status` straight from the ASGI scope, with the same schemas, service calls
and error bodies as `orders.views`.

It only takes requests it fully understands: a Bearer token, a JSON body that validates, a
well-formed id. Anything else (a missing token, a body that does not parse or validate, a
content type other than JSON) goes on to FastAPI with its body replayed, and is answered exactly
as the routes always answer it. So the only errors written here are those the service raises,
through the same mapping as the app's own handler. tests/orders/test_fastlane.py holds the two
paths to the same answers.
"""

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from email.message import Message as MimeHeader
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatchwire.auth.service import Actor, authenticate
from dispatchwire.context import Context
from dispatchwire.errors import DomainError, log_refusal
from dispatchwire.orders import service
from dispatchwire.orders.schemas import OrderIn, OrderOut, StatusIn
from dispatchwire.schemas import MAX_ID

__all__ = ["OrderFastLane"]

_STATUS_PATH = re.compile(r"/api/orders/([1-9][0-9]{0,9})/status")
_JSON_HEADERS = [(b"content-type", b"application/json")]
_NO_HEADERS: Mapping[str, str] = {}

Handler = Callable[[Context, Actor, Any], Awaitable[OrderOut]]


class OrderFastLane:
    """ASGI middleware: the hot order routes here, every other request to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route(scope)
        token = _bearer_token(scope) if route is not None else None
        if route is None or token is None or not _json_content(scope):
            await self.app(scope, receive, send)
            return
        schema, handler, status = route
        body = await _read_body(receive)
        if body is None:  # the client left before sending it all: no one to answer
            return
        data = _parse(schema, body)
        if data is None:  # FastAPI writes the 422, naming each field, as it always does
            await self.app(scope, _replay(body, receive), send)
            return
        ctx: Context = scope["app"].state.ctx
        try:
            order = await handler(ctx, await authenticate(ctx, token=token), data)
        except DomainError as exc:
            log_refusal("POST", scope["path"], exc.status, exc.message)
            await _respond(send, exc.status, exc.json_body(), exc.headers)
            return
        await _respond(send, status, order.model_dump_json(by_alias=True).encode())


async def _create(ctx: Context, actor: Actor, data: OrderIn) -> OrderOut:
    return await service.create_order(ctx, actor=actor, data=data)


def _status_handler(order_id: int) -> Handler:
    async def change_status(ctx: Context, actor: Actor, data: StatusIn) -> OrderOut:
        return await service.change_status(ctx, actor=actor, order_id=order_id,
                                           status=data.status)
    return change_status


def _route(scope: Scope) -> tuple[type[BaseModel], Handler, int] | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path = scope["path"]
    if path == "/api/orders":
        return OrderIn, _create, 201
    if (match := _STATUS_PATH.fullmatch(path)) and (order_id := int(match[1])) <= MAX_ID:
        return StatusIn, _status_handler(order_id), 200
    return None


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token if scheme.lower() == "bearer" and token else None
    return None


def _json_content(scope: Scope) -> bool:
    """Whether FastAPI reads the body as JSON: its content type says JSON (strictly: a body
    without a content type is not read as JSON)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return _is_json(value)
    return False


@functools.lru_cache(maxsize=64)  # clients send the same few values; parsing one costs ~3 µs
def _is_json(content_type: bytes) -> bool:
    header = MimeHeader()
    header["content-type"] = content_type.decode("latin-1")
    subtype = header.get_content_subtype()
    return header.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (the app's body-size limit watches `receive` on the way)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _parse(schema: type[BaseModel], body: bytes) -> Any:
    """The validated body, or None for anything FastAPI should answer itself."""
    try:
        return schema.model_validate(orjson.loads(body))  # Python mode, as FastAPI validates
    except (orjson.JSONDecodeError, ValidationError):
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # what the server has next, e.g. a disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _respond(send: Send, status: int, body: bytes,
                   headers: Mapping[str, str] = _NO_HEADERS) -> None:
    raw_headers = [(b"content-length", str(len(body)).encode()), *_JSON_HEADERS]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
