"""Fuzzing `/ws`: whatever a client sends, it gets the documented answer (every frame checked
against docs/asyncapi.yaml) or a documented close, an open socket stays usable, and nothing
fails inside the server. One server for the module; each example on a fresh socket."""

import json
import logging
import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.conftest import TEST_SECRET, Person, make_settings
from tests.gateway.conftest import FAST
from tests.gateway.support import Live, WsClient, serving

pytestmark = pytest.mark.timeout(600)  # thousands of requests

MAX_MESSAGE_BYTES = 64 * 1024
MAX_EVENT_ID = 2**63 - 1
MAX_TOKEN_LENGTH = 8192
KNOWN_TYPES = ("auth", "ping", "subscribe_assignments", "unsubscribe_assignments", "location")
DOCUMENTED_ERRORS = {"bad_json", "invalid_message", "unknown_type", "not_authenticated",
                     "forbidden", "rate_limited"}
# Marker strings the strategies put where a token goes; each example swaps in the real token.
MASTER, ADMIN, MASTER_CLAIMING_ADMIN = "@master", "@admin", "@master-claiming-admin"
FORGED = ("@forged-unknown-user", "@forged-sub-zero", "@forged-sub-huge", "@forged-sub-text",
          "@forged-expired", "@forged-no-exp", "@forged-wrong-secret", "@forged-alg-none",
          "@forged-hs384", "@master-truncated", "@master-with-space")

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


# -- the server, its people, and what it logs ----------------------------------------------------

class ServerErrors(logging.Handler):
    """ERROR records of the server's loggers (the gateway's and uvicorn's)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("dispatchwire", "uvicorn")):
            self.records.append(record)

    def since(self, mark: int) -> list[str]:
        return [f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in self.records[mark:]]


@dataclass(repr=False)
class World:
    live: Live
    master: Person  # off shift: the fuzz never gets an offer
    admin: Person
    tokens: dict[str, str]  # marker -> token
    identity: dict[str, str]  # valid token -> "master" or "admin"

    def __repr__(self) -> str:  # hypothesis prints it with each failing example
        return f"World(master=#{self.master.id}, admin=#{self.admin.id})"


def forged_tokens(master: Person) -> dict[str, str]:
    now = int(time.time())

    def signed(claims: dict[str, Any], key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
        return jwt.encode(claims, key, algorithm=algorithm)

    later = now + 3600
    return {
        "@forged-unknown-user": signed({"sub": "999999", "exp": later}),
        "@forged-sub-zero": signed({"sub": "0", "exp": later}),
        "@forged-sub-huge": signed({"sub": str(2**70), "exp": later}),
        "@forged-sub-text": signed({"sub": "admin", "exp": later}),
        "@forged-expired": signed({"sub": str(master.id), "exp": now - 10}),
        "@forged-no-exp": signed({"sub": str(master.id)}),
        "@forged-wrong-secret": signed({"sub": str(master.id), "exp": later}, "y" * 48),
        "@forged-alg-none": jwt.encode({"sub": str(master.id), "exp": later}, None,
                                       algorithm="none"),
        "@forged-hs384": signed({"sub": str(master.id), "exp": later}, algorithm="HS384"),
        "@master-truncated": master.token[:-1],
        "@master-with-space": master.token + " ",
    }


@pytest.fixture(scope="module")
def server_errors() -> Iterator[ServerErrors]:
    handler = ServerErrors()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory,
                server_errors: ServerErrors) -> AsyncIterator[World]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    async with serving(make_settings(url, **FAST)) as live:
        master = await live.api.master(on_shift=False)
        admin = await live.api.admin()
        claiming = jwt.encode({"sub": str(master.id), "role": "admin",
                               "exp": int(time.time()) + 3600}, TEST_SECRET, algorithm="HS256")
        tokens = {MASTER: master.token, ADMIN: admin.token, MASTER_CLAIMING_ADMIN: claiming,
                  **forged_tokens(master)}
        identity = {master.token: "master", claiming: "master", admin.token: "admin"}
        yield World(live, master, admin, tokens, identity)


# -- what a frame should get ---------------------------------------------------------------------

@dataclass(frozen=True)
class Expect:
    answers: frozenset[str]  # "pong", "auth_success:master", "auth_error:token is invalid",
    # "error:bad_json", "closed:1009", ...
    identity: str | None  # who the socket is authenticated as afterwards
    then_close: int | None = None  # a close that follows the answer


class NotJson(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise NotJson(name)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise NotJson(text)
    return value


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(map(_has_surrogate, value))
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


def json_model(text: str) -> tuple[str, Any]:
    """What strict JSON makes of `text`: ("value", v), ("not_json", None) or ("too_deep", None)
    (nesting beyond what a parser must support: either refusal is right)."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
        if _has_surrogate(value):  # "\ud800": an escape of no character
            return "not_json", None
    except RecursionError:
        return "too_deep", None
    except (NotJson, ValueError):
        return "not_json", None
    return "value", value


def expect(data: str | bytes, *, text: bool, identity: str | None, world: World) -> Expect:
    """The documented answer to one frame on a socket authenticated as `identity`."""
    def answer(*answers: str, who: str | None = identity, then_close: int | None = None
               ) -> Expect:
        return Expect(frozenset(answers), who, then_close)

    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_MESSAGE_BYTES:
        return answer("closed:1009")
    if not text:
        return answer("error:invalid_message")
    assert isinstance(data, str)
    outcome, value = json_model(data)
    if outcome == "not_json":
        return answer("error:bad_json")
    if outcome == "too_deep":
        return answer("error:bad_json", "error:invalid_message")
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return answer("error:invalid_message")
    kind = value["type"]
    if kind == "auth":
        return expect_auth(value, identity, world)
    if kind not in KNOWN_TYPES:
        return answer("error:unknown_type")
    if kind == "location":  # checked before the caller: a bad frame is bad for anyone
        if not (degrees(value.get("lat"), 90) and degrees(value.get("lon"), 180)):
            return answer("error:invalid_message")
        if identity is None:
            return answer("error:not_authenticated")
        return answer("error:forbidden")  # the fuzz's master has no job; an admin is no master
    if identity is None:
        return answer("error:not_authenticated")
    if kind == "ping":
        return answer("pong")
    if kind == "unsubscribe_assignments":
        return answer("unsubscribed_assignments")
    return answer("subscribed_assignments" if identity == "master" else "error:forbidden")


def degrees(value: Any, limit: int) -> bool:
    """Whether `value` is a number of degrees the `location` frame takes."""
    return not isinstance(value, bool) and isinstance(value, int | float) and \
        math.isfinite(value) and -limit <= value <= limit


def refusal(token: Any, world: World) -> str:
    """The `auth_error` message docs/websocket-api.md gives for a token that is refused."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return "token is missing"
    if token == world.tokens["@forged-expired"]:
        return "token has expired: log in again"
    if token == world.tokens["@forged-unknown-user"]:
        return "token is invalid: its user no longer exists"
    return "token is invalid"


def expect_auth(message: dict[str, Any], identity: str | None, world: World) -> Expect:
    last = message.get("lastEventId")
    if last is not None and (isinstance(last, bool) or not isinstance(last, int)
                             or not 0 <= last <= MAX_EVENT_ID):
        return Expect(frozenset({"error:invalid_message"}), identity)
    token = message.get("token")
    who = world.identity.get(token) if isinstance(token, str) else None
    if who is None:
        return Expect(frozenset({f"auth_error:{refusal(token, world)}"}), None, then_close=4401)
    if identity is not None and identity != who:
        return Expect(frozenset({"error:forbidden"}), identity)
    return Expect(frozenset({f"auth_success:{who}"}), who)


# -- one exchange ---------------------------------------------------------------------------------

def describe(frame: dict[str, Any]) -> str:
    kind = frame["type"]
    if kind == "error":
        assert frame["code"] in DOCUMENTED_ERRORS, frame
        return f"error:{frame['code']}"
    if kind == "auth_success":
        return f"auth_success:{frame['role']}"
    if kind == "auth_error":
        return f"auth_error:{frame['message']}"
    return kind


async def first_answer(ws: WsClient, data: str | bytes, *, text: bool) -> str:
    """Send one frame; what came back first: a frame (checked against the AsyncAPI) or a close."""
    assert ws.conn is not None
    try:
        await ws.conn.send(data, text=text)
        return describe(await ws.recv())
    except ConnectionClosed as exc:
        return f"closed:{exc.rcvd.code if exc.rcvd else None}"


async def exchange(world: World, errors: ServerErrors, data: str | bytes, *, text: bool,
                   identity: str | None, compressed: bool) -> None:
    """A fresh socket (authenticated as `identity`, or not), one fuzz frame, its answer; then,
    if the socket is still open, proof that it still works."""
    mark = len(errors.records)
    options = {} if compressed else {"compression": None}
    async with WsClient(world.live.ws_url, **options) as ws:
        if identity is not None:
            await ws.auth(world.master if identity == "master" else world.admin)
        wanted = expect(data, text=text, identity=identity, world=world)
        got = await first_answer(ws, data, text=text)
        event(got)  # --hypothesis-show-statistics tells how often each answer came
        assert got in wanted.answers, f"answered {got}, expected one of {set(wanted.answers)}"
        if wanted.then_close is not None:
            code, _ = await ws.closed()
            assert code == wanted.then_close
        elif not got.startswith("closed:"):
            if wanted.identity is None:
                await ws.auth(world.master)
            await ws.send({"type": "ping"})
            assert (await ws.recv())["type"] == "pong"
    assert not errors.since(mark), errors.since(mark)


# -- strategies -----------------------------------------------------------------------------------

def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], *, percent: int
           ) -> st.SearchStrategy[Any]:
    """`rare` about `percent` % of the time (a plain `|` would give each branch an equal share)."""
    return st.sampled_from(range(100)).flatmap(lambda n: rare if n < percent else usual)


# Any code point but surrogates (NUL, controls, RTL marks, emoji...), which are sendable as is.
SENDABLE_TEXTS = (st.text(max_size=30)
                  | st.sampled_from(["", "\x00", "\u202e", "😀", "\ufeff", "\\", '"', "\u2028",
                                     "null", "0", "[]", "{}", '{"type":"ping"', " {}"]))
INTEGERS = (st.integers(min_value=-2**128, max_value=2**128)
            | st.sampled_from([0, -1, MAX_EVENT_ID, MAX_EVENT_ID + 1, 2**64, -2**63 - 1]))
# What json.dumps writes but is no JSON: NaN, Infinity, and lone surrogates ("\ud800").
NOT_JSON = st.sampled_from([math.nan, math.inf, -math.inf, "\ud800", "\udfff", "a\udc00b"])
TEXTS = mostly(SENDABLE_TEXTS, NOT_JSON.filter(lambda v: isinstance(v, str)), percent=5)
SCALARS = mostly(st.none() | st.booleans() | INTEGERS
                 | st.floats(allow_nan=False, allow_infinity=False) | SENDABLE_TEXTS,
                 NOT_JSON, percent=5)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXTS, inner, max_size=4),
    max_leaves=12,
)
TYPES = mostly(st.sampled_from(("auth", *KNOWN_TYPES)),  # auth twice: it has the most cases
               st.sampled_from(["pong", "auth_success", "new_assignment", "error", "Auth", "PING",
                                " ping", "ping\x00", "subscribe", ""]) | TEXTS,
               percent=35)
TOKENS = mostly(st.sampled_from([MASTER, ADMIN, MASTER_CLAIMING_ADMIN]),
                st.sampled_from(FORGED) | st.sampled_from(["", "x" * 8193, "Bearer x"])
                | SCALARS | st.lists(st.text(max_size=5), max_size=2),
                percent=50)
DEGREES = mostly(st.floats(min_value=-180, max_value=180) | st.integers(-90, 90),
                 SCALARS | st.floats() | st.sampled_from([90.0000001, -180.5, 1e308, "1.5"]),
                 percent=40)
LAST_EVENT_IDS = mostly(st.integers(0, 100) | st.none(),
                        INTEGERS | st.floats() | st.text(max_size=10) | st.booleans()
                        | st.sampled_from(["0", "1", 1.0, 0.5, -0.0, [], {}]),
                        percent=50)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    """A dict whose `type` is mostly known, with tokens and ids right, wrong or of wrong types,
    and random extra fields (unknown fields are ignored)."""
    message = draw(st.dictionaries(TEXTS, JSON_VALUES, max_size=2))
    message["type"] = draw(TYPES)
    if draw(st.sampled_from(range(10))) < (9 if message["type"] == "auth" else 2):
        message["token"] = draw(TOKENS)
    if draw(st.sampled_from(range(10))) < 4:
        message["lastEventId"] = draw(LAST_EVENT_IDS)
    if message["type"] == "location" or draw(st.sampled_from(range(10))) < 1:
        for name in ("lat", "lon"):
            if draw(st.sampled_from(range(10))) < 9:
                message[name] = draw(DEGREES)
    return message


@st.composite
def json_text(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> str:
    value = draw(values)
    raw_unicode = draw(st.booleans()) and not _has_surrogate(value)
    return json.dumps(value, ensure_ascii=not raw_unicode)


def padded(total: int, head: str = '{"type":"ping","pad":"') -> str:
    """A message of exactly `total` bytes: `head`, x's, and the closing '"}'."""
    return head + "x" * (total - len(head) - 2) + '"}'


def deep(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "0" + "}" * depth


# (data, whether it goes as a text frame)
RAW_FRAMES = st.one_of(
    st.tuples(st.binary(max_size=300), st.just(False)),
    st.tuples(st.sampled_from([b'{"type":"ping"}', b'{"type":"auth","token":"x"}']),
              st.just(False)),
    st.tuples(st.binary(min_size=MAX_MESSAGE_BYTES + 1, max_size=MAX_MESSAGE_BYTES + 8),
              st.just(False)),
    st.tuples(st.sampled_from([MAX_MESSAGE_BYTES - 1, MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES + 1,
                               200_000]).map(padded), st.just(True)),
    st.tuples(st.integers(min_value=MAX_MESSAGE_BYTES + 1, max_value=300_000)
              .map(lambda n: "x" * n), st.just(True)),
    st.tuples(st.sampled_from([MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES + 1]).map(
        lambda n: padded(n, '{"type":"auth","token":"')), st.just(True)),
    st.tuples(st.builds(deep, st.sampled_from([1000, 1024, 1025, 10_000, 32_768, 40_000]),
                        st.just("array")), st.just(True)),
    st.tuples(st.builds(deep, st.sampled_from([1025, 10_000]), st.just("object")),
              st.just(True)),
    st.tuples(SENDABLE_TEXTS, st.just(True)),  # mostly not JSON at all
)


# -- the fuzz --------------------------------------------------------------------------------------

AS_MASTER_OR_NOT = st.sampled_from([None, "master"])


@settings(FUZZ, max_examples=50)
@given(text=json_text(JSON_VALUES), identity=AS_MASTER_OR_NOT, compressed=st.booleans())
async def test_any_json_value_gets_a_documented_answer_and_leaves_the_socket_usable(
        world: World, server_errors: ServerErrors, text: str, identity: str | None,
        compressed: bool) -> None:
    await exchange(world, server_errors, text, text=True, identity=identity,
                   compressed=compressed)


@settings(FUZZ, max_examples=70)
@given(message=messages(), identity=st.sampled_from([None, "master", "admin"]),
       compressed=st.booleans(), raw_unicode=st.booleans())
# The cases that matter most, whatever the generator comes up with:
@example(message={"type": "ping"}, identity="master", compressed=True, raw_unicode=False)
@example(message={"type": "ping"}, identity=None, compressed=True, raw_unicode=False)
@example(message={"type": "subscribe_assignments"}, identity="admin", compressed=False,
         raw_unicode=False)
@example(message={"type": "location", "lat": 55.75, "lon": 37.61}, identity="master",
         compressed=True, raw_unicode=False)
@example(message={"type": "location", "lat": 55.75, "lon": 37.61}, identity=None,
         compressed=True, raw_unicode=False)
@example(message={"type": "location", "lat": 91, "lon": 0}, identity="admin", compressed=True,
         raw_unicode=False)
@example(message={"type": "auth", "token": ADMIN}, identity="master", compressed=True,
         raw_unicode=False)
@example(message={"type": "auth", "token": MASTER_CLAIMING_ADMIN}, identity=None,
         compressed=True, raw_unicode=False)
@example(message={"type": "auth", "token": MASTER, "lastEventId": 0}, identity=None,
         compressed=True, raw_unicode=False)
@example(message={"type": "auth", "token": MASTER, "lastEventId": MAX_EVENT_ID}, identity=None,
         compressed=False, raw_unicode=False)
@example(message={"type": "auth", "token": MASTER, "lastEventId": MAX_EVENT_ID + 1},
         identity=None, compressed=True, raw_unicode=False)
@example(message={"type": "auth", "token": MASTER, "lastEventId": True}, identity="master",
         compressed=True, raw_unicode=False)
@example(message={"type": "auth", "token": MASTER, "lastEventId": "3"}, identity=None,
         compressed=True, raw_unicode=False)
@example(message={"type": "auth", "token": "@forged-expired"}, identity="master",
         compressed=True, raw_unicode=False)
@example(message={"type": "auth", "token": ["x"]}, identity=None, compressed=True,
         raw_unicode=False)
@example(message={"type": "auth", "token": 12345}, identity="admin", compressed=True,
         raw_unicode=False)
async def test_messages_with_odd_types_tokens_and_ids_get_exactly_the_documented_answer(
        world: World, server_errors: ServerErrors, message: dict[str, Any],
        identity: str | None, compressed: bool, raw_unicode: bool) -> None:
    if isinstance(token := message.get("token"), str):
        message = {**message, "token": world.tokens.get(token, token)}
    text = json.dumps(message, ensure_ascii=not raw_unicode or _has_surrogate(message))
    await exchange(world, server_errors, text, text=True, identity=identity,
                   compressed=compressed)


@settings(FUZZ, max_examples=30)
@given(frame=RAW_FRAMES, identity=AS_MASTER_OR_NOT, compressed=st.booleans())
async def test_binary_huge_and_deeply_nested_frames_are_refused_as_documented(
        world: World, server_errors: ServerErrors, frame: tuple[str | bytes, bool],
        identity: str | None, compressed: bool) -> None:
    data, text = frame
    await exchange(world, server_errors, data, text=text, identity=identity,
                   compressed=compressed)


async def test_a_text_frame_of_invalid_utf8_closes_with_1007_and_logs_no_error(
        world: World, server_errors: ServerErrors) -> None:
    """RFC 6455 8.1: invalid UTF-8 in a text frame fails the connection with 1007. The client
    is at fault, not the server: nothing at ERROR level, no traceback in the server's log."""
    mark = len(server_errors.records)
    async with WsClient(world.live.ws_url) as ws:
        await ws.auth(world.master)
        got = await first_answer(ws, b'{"type":"ping","pad":"\xff\xfe"}', text=True)
    logged = server_errors.since(mark)
    del server_errors.records[mark:]  # judged here: the final check is for everything else
    assert got == "closed:1007"
    assert not logged, logged


async def test_after_the_fuzz_the_server_is_healthy_and_still_dispatches(
        world: World, server_errors: ServerErrors) -> None:
    api = world.live.api
    health = await api.client.get("/health")
    assert health.status_code == 200
    master = await api.master()
    async with await world.live.master_socket(master) as ws:
        await ws.send({"type": "ping"})
        assert (await ws.recv())["type"] == "pong"
        order = await api.order(world.admin)
        offer = await ws.recv_until("new_assignment")
    assert offer["assignment"]["orderId"] == order["id"]
    assert not server_errors.since(0), server_errors.since(0)
