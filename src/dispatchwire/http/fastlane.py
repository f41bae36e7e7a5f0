"""The busiest routes, served without FastAPI's per-request machinery.

Placing an order and changing its status are what a busy dispatch floor does hundreds of times a
second. FastAPI's routing, dependency solving and body handling cost ~0.2 ms of CPU a request,
about as much as the order's own SQL. This middleware answers the routes it is given straight
from the ASGI scope. It is built from FastAPI's own route objects, so the path, the status code,
the body's model, the path parameters' checks and the endpoint are the route's; the endpoint is
called with the same arguments FastAPI would pass (the context, the caller, the path parameters
and the body), and refusals are answered by the same renderer as the app's (`http.errors`).

It only takes requests it fully understands: a Bearer token, a JSON body that validates, path
parameters that validate. Anything else (a missing token, a body that does not parse or
validate, a content type other than JSON) goes on to FastAPI with its body replayed, and is
answered exactly as the routes always answer it. tests/http/test_fastlane.py holds the two paths
to the same answers.
"""

import functools
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message as MimeHeader
from re import Pattern
from typing import Any

import orjson
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatchwire.auth.service import authenticate
from dispatchwire.context import Context
from dispatchwire.deps import actor_dependency, context_dependency
from dispatchwire.errors import DomainError
from dispatchwire.http.errors import INTERNAL_ERROR, refused
from dispatchwire.http.json_errors import OutageLog, content_length
from dispatchwire.http.overload import Overload, Overloaded
from dispatchwire.masters.service import come_back
from dispatchwire.store.outage import as_unavailable

__all__ = ["EarlyRefusals", "FastLane", "lane_routes"]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_OVERLOADED = Overloaded()  # not logged one by one: http.overload logs while it lasts
_NO_HEADERS: Mapping[str, str] = {}
_INTERNAL_ERROR = orjson.dumps({"detail": INTERNAL_ERROR})


@dataclass(frozen=True, slots=True)
class _Lane:
    """One route as the fast lane serves it."""

    method: str
    path: Pattern[str]
    params: Mapping[str, Any]  # path parameter -> FastAPI's field, which validates it
    body_name: str
    body: type[BaseModel]
    endpoint: Callable[..., Awaitable[BaseModel | Response]]
    context_name: str
    actor_name: str
    status: int
    sheddable: bool  # refused while the server is overloaded (http.overload)


def lane_routes(router: APIRouter, *endpoints: Callable[..., Any]) -> list[APIRoute]:
    """The routes of `router` whose endpoints are `endpoints`."""
    routes = [r for r in router.routes if isinstance(r, APIRoute) and r.endpoint in endpoints]
    if len(routes) != len(endpoints):
        raise ValueError("every endpoint given to the fast lane must be a route of the router")
    return routes


class FastLane:
    """ASGI middleware: the given routes here, every other request to `app`.

    It stands in front of FastAPI's own middleware (see `app.DispatchApp`), so it answers for
    itself what those layers would: a body over `max_body_bytes` or of no declared length goes
    on to them (and is refused there), a database outage is a 503 (logged by `outages`), and a
    bug a JSON 500, raised on for the server to log with its trace.
    """

    def __init__(self, app: ASGIApp, *, routes: Sequence[APIRoute], max_body_bytes: int,
                 overload: Overload | None = None,
                 sheddable: Collection[Callable[..., Any]] = (),
                 outages: OutageLog | None = None) -> None:
        """`sheddable`: the endpoints whose requests `overload` may refuse (none without)."""
        self.app = app
        self._lanes = [_lane(route, sheddable=route.endpoint in sheddable) for route in routes]
        self._max_body_bytes = max_body_bytes
        self._overload = overload or Overload(0)
        self._outages = outages or OutageLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        taken = _taken(self._lanes, scope, self._max_body_bytes)
        if taken is None:
            await self.app(scope, receive, send)
            return
        lane, path_values, token = taken
        body = await _read_body(receive)
        if body is None:  # the client left before sending it all: no one to answer
            return
        if not lane.sheddable:
            await self._serve(lane, path_values, token, body, scope, receive, send)
            return
        if self._overload.refuses():
            await _respond(send, _OVERLOADED.status, _OVERLOADED.json_body(),
                           _OVERLOADED.headers)
            return
        self._overload.started()
        try:
            await self._serve(lane, path_values, token, body, scope, receive, send)
        finally:
            self._overload.finished()

    async def _serve(self, lane: "_Lane", path_values: dict[str, Any], token: str, body: bytes,
                     scope: Scope, receive: Receive, send: Send) -> None:
        data = _parse(lane.body, body)
        if data is None:  # FastAPI writes the 422, naming each field, as it always does
            await self.app(scope, _replay(body, receive), send)
            return
        ctx: Context = scope["app"].state.ctx
        try:
            actor = await authenticate(ctx, token=token)
            await come_back(ctx, actor=actor)
            result = await lane.endpoint(**path_values, **{
                lane.context_name: ctx, lane.actor_name: actor, lane.body_name: data})
        except DomainError as exc:
            await _respond(send, *refused(lane.method, scope["path"], exc))
            return
        except Exception as exc:
            await self._failed(lane, scope, send, exc)
            return
        if isinstance(result, Response):  # written by the route itself, its status with it
            await _send(send, result.status_code, result.raw_headers, result.body)
        else:
            await _respond(send, lane.status, result.model_dump_json(by_alias=True).encode())
        self._overload.served(scope)

    async def _failed(self, lane: _Lane, scope: Scope, send: Send, exc: Exception) -> None:
        """A 503 for a database outage; for anything else (a bug) a JSON 500 without the
        trace, and `exc` raised on: the server logs it and closes the connection."""
        outage = as_unavailable(exc)
        if outage is None:
            await _respond(send, 500, _INTERNAL_ERROR)
            raise exc
        if outage is not exc:
            self._outages.warn(exc)
        await _respond(send, *refused(lane.method, scope["path"], outage))


class EarlyRefusals:
    """The fast lane's refusal of new orders while the server is overloaded (http.overload),
    made by the HTTP protocol as soon as a request's head is read (http.admission), before
    uvicorn makes a task for it and the application's middleware runs.

    Past twice its limit the server refuses more orders than it takes; a refusal made by the
    lane cost 0.12-0.15 ms of the core at 1,000 a second, one made here 0.085-0.09 ms (a
    request's read and its answer's write alone: 0.04 ms). Only what the lane itself would take
    and refuse is refused here, with the lane's answer, so a client cannot tell the two apart."""

    def __init__(self, *, routes: Sequence[APIRoute], max_body_bytes: int, overload: Overload,
                 sheddable: Collection[Callable[..., Any]]) -> None:
        self.overload = overload
        self._lanes = [_lane(route, sheddable=True) for route in routes
                       if route.endpoint in sheddable]
        self._max_body_bytes = max_body_bytes
        self.refused = 0  # new orders refused here

    @property
    def active(self) -> bool:
        """Whether the server is overloaded: only then may a request be refused here."""
        return self.overload.limit is not None

    def refuses(self, scope: Scope) -> bool:
        """Whether to refuse now the request of this scope (its `method`, `path` and
        `headers` so far): a new order the lane would take, while the server is overloaded."""
        if _taken(self._lanes, scope, self._max_body_bytes) is None \
                or not self.overload.refuses():
            return False
        self.refused += 1
        return True

    @staticmethod
    def response(default_headers: Sequence[tuple[bytes, bytes]]) -> bytes:
        """The lane's 503, as uvicorn writes it (the server's default headers first)."""
        body = _OVERLOADED.json_body()
        headers = [*default_headers, (b"content-length", str(len(body)).encode()),
                   *_JSON_HEADERS, *_raw_headers(_OVERLOADED.headers)]
        return b"".join([b"HTTP/1.1 503 Service Unavailable\r\n",
                         *(name + b": " + value + b"\r\n" for name, value in headers),
                         b"\r\n", body])


def _lane(route: APIRoute, *, sheddable: bool) -> _Lane:
    """How the fast lane serves `route`; ValueError for a route it cannot serve alike."""
    dependant = route.dependant
    calls = {dependency.call: dependency.name or "" for dependency in dependant.dependencies}
    methods = route.methods or set()
    if set(calls) != {context_dependency, actor_dependency} or len(methods) != 1 \
            or len(dependant.body_params) != 1 or dependant.query_params \
            or dependant.header_params or dependant.cookie_params:
        raise ValueError(f"route {route.path} takes more than the fast lane passes")
    body = dependant.body_params[0]
    return _Lane(method=next(iter(methods)), path=route.path_regex,
                 params={field.name: field for field in dependant.path_params},
                 body_name=body.name, body=body.field_info.annotation,  # type: ignore[arg-type]
                 endpoint=route.endpoint, context_name=calls[context_dependency],
                 actor_name=calls[actor_dependency], status=route.status_code or 200,
                 sheddable=sheddable)


def _match(lanes: Sequence[_Lane], scope: Scope) -> tuple[_Lane, dict[str, Any]] | None:
    """The lane for this request and its validated path parameters, if one takes it."""
    if scope["type"] != "http":
        return None
    for lane in lanes:
        if scope["method"] != lane.method or not (match := lane.path.match(scope["path"])):
            continue
        values = {}
        for name, field in lane.params.items():
            value, errors = field.validate(match[name], {}, loc=("path", name))
            if errors:
                return None  # FastAPI answers with its 422
            values[name] = value
        return lane, values
    return None


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token if scheme.lower() == "bearer" and token else None
    return None


def _taken(lanes: Sequence["_Lane"], scope: Scope, max_body_bytes: int
           ) -> tuple["_Lane", dict[str, Any], str] | None:
    """The lane that takes this request, its path's values and the bearer token; None for a
    request the lane leaves to the application (another path, no token, a body it cannot
    read)."""
    found = _match(lanes, scope)
    token = _bearer_token(scope) if found is not None else None
    if found is None or token is None or not _takes_body(scope, max_body_bytes):
        return None
    return found[0], found[1], token


def _takes_body(scope: Scope, max_body_bytes: int) -> bool:
    """Whether the body is JSON, of a declared length within the limit (the server's parser
    holds the body to that length)."""
    declared = content_length(scope)
    return declared is not None and declared <= max_body_bytes and _json_content(scope)


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
    await _send(send, status, [(b"content-length", str(len(body)).encode()), *_JSON_HEADERS,
                               *_raw_headers(headers)], body)


async def _send(send: Send, status: int, raw_headers: Sequence[tuple[bytes, bytes]],
                body: bytes | memoryview) -> None:
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _raw_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]
