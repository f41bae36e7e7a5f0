"""The Redis broker: events cross processes on one pub/sub channel; presence lives in keys.

Local listeners get an event at once, in `publish`; other processes get it through Redis, from
a bounded outbox drained by one sender task, so a slow or absent Redis never holds up a
request. Whatever cannot be sent is dropped (it is stored), and the next message that gets
through is preceded by a gap notice: every process then reads its sockets' missed events from
the database. The receiving side does the same after it resubscribes, since Redis keeps
nothing for a subscriber that was away.

Transient messages (not stored: a master's position) travel the same way, but their loss is no
gap: there is nothing to read back. One that waited too long for Redis is dropped rather than
delivered stale.
"""

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry  # the asyncio client's: a sync one is converted, warned
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from dispatchwire.broker.base import GapListener, Listener, TransientListener
from dispatchwire.broker.memory import deliver_locally, deliver_transient_locally
from dispatchwire.broker.metrics import BROKER_CONNECTED, BROKER_DROPPED, BROKER_GAPS
from dispatchwire.events.types import StoredEvent

__all__ = ["RedisBroker"]

log = logging.getLogger(__name__)

CHANNEL = "dispatchwire:events"
PRESENCE_PREFIX = "dispatchwire:presence:"
OUTBOX_SIZE = 10_000  # messages waiting for Redis; beyond it they are dropped and a gap noted
TIMEOUT_S = 2.0  # connect and command timeout: a hung Redis must not hang a process
HEARTBEAT_S = 5.0  # the subscriber pings this often and gives up after three silent rounds
RETRY_BASE_S, RETRY_CAP_S = 0.2, 5.0
TRANSIENT_TTL_S = 10.0  # a transient message older than this when Redis answers is dropped

# A message waiting for Redis: its bytes, whether it carries stored events (its loss is a gap),
# and when it was queued.
_Outgoing = tuple[bytes, bool, float]


class RedisBroker:
    def __init__(self, url: str) -> None:
        self.node_id = uuid.uuid4().hex[:12]
        options: dict[str, Any] = {"socket_timeout": TIMEOUT_S,
                                   "socket_connect_timeout": TIMEOUT_S}
        # A command retries once, on a new connection: after a Redis restart every pooled
        # connection is stale.
        self._redis = Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)
        # The subscriber never does: redis-py would resubscribe silently, hiding a gap.
        self._subscriber = Redis.from_url(url, retry=Retry(NoBackoff(), 0), **options)
        self._listeners: list[Listener] = []
        self._gap_listeners: list[GapListener] = []
        self._transient_listeners: list[TransientListener] = []
        self._outbox: asyncio.Queue[_Outgoing] = asyncio.Queue(OUTBOX_SIZE)
        self._lost = False  # a message never left: announce a gap before the next one
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        self._tasks = [asyncio.create_task(self._send_forever(), name="redis-sender"),
                       asyncio.create_task(self._listen_forever(), name="redis-listener")]

    async def disconnect(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):  # else it vanishes with its TTL
            await self._redis.delete(PRESENCE_PREFIX + self.node_id)
        await self._redis.aclose()
        await self._subscriber.aclose()

    async def publish(self, events: list[StoredEvent]) -> None:
        deliver_locally(self._listeners, events)
        message = orjson.dumps({"node": self.node_id, "events": [_encode(e) for e in events]})
        try:
            self._outbox.put_nowait((message, True, time.monotonic()))
        except asyncio.QueueFull:
            self._lost = True
            BROKER_DROPPED.inc()

    async def send_transient(self, user_id: int, message: dict[str, Any]) -> None:
        deliver_transient_locally(self._transient_listeners, user_id, message)
        data = orjson.dumps({"node": self.node_id, "transient": [user_id, message]})
        with contextlib.suppress(asyncio.QueueFull):  # best effort: the next one replaces it
            self._outbox.put_nowait((data, False, time.monotonic()))

    def add_transient_listener(self, listener: TransientListener) -> None:
        self._transient_listeners.append(listener)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_gap_listener(self, listener: GapListener) -> None:
        self._gap_listeners.append(listener)

    async def share_presence(self, snapshot: Callable[[], bytes], *, ttl_s: float) -> None:
        await self._redis.set(PRESENCE_PREFIX + self.node_id, snapshot(), px=int(ttl_s * 1000))

    async def cluster_presence(self) -> list[bytes]:
        keys = [key async for key in self._redis.scan_iter(match=PRESENCE_PREFIX + "*")
                if key.decode() != PRESENCE_PREFIX + self.node_id]
        values = await self._redis.mget(keys) if keys else []
        return [value for value in values if isinstance(value, bytes)]

    async def ping(self) -> None:
        await self._redis.ping()

    # -- sending --------------------------------------------------------------------------

    async def _send_forever(self) -> None:
        await _forever("sending to Redis", self._send)

    async def _send(self) -> None:
        if self._lost:
            await self._redis.publish(CHANNEL, orjson.dumps({"node": self.node_id, "gap": True}))
            self._lost = False
        message, stored, queued_at = await self._outbox.get()
        if not stored and time.monotonic() - queued_at > TRANSIENT_TTL_S:
            return  # stale: the client has had a newer one, or will
        try:
            await self._redis.publish(CHANNEL, message)
        except (RedisError, OSError):
            if stored:
                self._lost = True
                BROKER_DROPPED.inc()
            raise

    # -- receiving ------------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        await _forever("listening to Redis", self._listen)

    async def _listen(self) -> None:
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)
            BROKER_CONNECTED.set(1)
            self._announce_gap("subscribed")  # whatever was published while away is missing
            await self._receive(pubsub)
        finally:
            BROKER_CONNECTED.set(0)
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _receive(self, pubsub: PubSub) -> None:
        heard = pinged = time.monotonic()
        while True:
            _end_if_cancelled()
            message = await pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is not None:
                heard = now
                if message["type"] == "message":
                    self._dispatch(message["data"])
            if now - heard > 3 * HEARTBEAT_S:
                raise ConnectionError(f"Redis silent for {now - heard:.0f} s")
            if now - pinged > HEARTBEAT_S:
                await pubsub.ping()
                pinged = now

    def _dispatch(self, data: bytes) -> None:
        try:
            message = orjson.loads(data)
            if message["node"] == self.node_id:
                return  # delivered locally when published
            if message.get("gap"):
                self._announce_gap(f"node {message['node']} lost messages")
                return
            if "transient" in message:
                user_id, frame = message["transient"]
                deliver_transient_locally(self._transient_listeners, int(user_id), dict(frame))
                return
            events = [_decode(item) for item in message["events"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a malformed message on %s", CHANNEL)
            return
        deliver_locally(self._listeners, events)

    def _announce_gap(self, why: str) -> None:
        BROKER_GAPS.inc()
        log.info("broker: %s; sockets catch up from the database", why)
        for listener in self._gap_listeners:
            try:
                listener()
            except Exception:
                log.exception("gap listener failed")


def _end_if_cancelled() -> None:
    """Raise CancelledError if this task was cancelled. redis-py may swallow a cancel that
    comes while it connects, or answer it with an error of its own; a loop that retried or
    read on would never end, and `disconnect`, which cancels the loops and waits for them,
    would wait for ever (a `create-admin` hung so in CI)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _forever(what: str, step: Callable[[], Awaitable[None]]) -> None:
    """Run `step` again and again; on Redis errors wait (capped, jittered) and go on."""
    failures = 0
    while True:
        _end_if_cancelled()
        try:
            await step()
            failures = 0
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError) as exc:
            _end_if_cancelled()
            if failures == 0:
                log.warning("%s failed (%s); retrying until it answers", what,
                            type(exc).__name__)
            failures += 1
            await asyncio.sleep(random.uniform(0, min(RETRY_CAP_S, RETRY_BASE_S * 2**failures)))
        except Exception:
            log.exception("%s failed; retrying", what)
            await asyncio.sleep(RETRY_CAP_S)


def _encode(stored: StoredEvent) -> list[Any]:
    return [stored.user_id, stored.event_id, stored.type, stored.payload,
            stored.created_at.timestamp()]


def _decode(item: list[Any]) -> StoredEvent:
    user_id, event_id, type_, payload, created = item
    return StoredEvent(int(user_id), int(event_id), str(type_), dict(payload),
                       datetime.fromtimestamp(float(created), UTC))
