"""The broker contract, run against every backend: memory, and a real Redis."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from dispatchwire.broker import Broker, broker_from_url
from dispatchwire.errors import ConfigurationError
from dispatchwire.events.types import StoredEvent
from tests.conftest import wait_for
from tests.redis import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_server").url


class Node:
    """A broker as one process holds it, with everything its listeners heard."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.heard: list[StoredEvent] = []
        self.transient: list[tuple[int, dict[str, Any]]] = []
        self.gaps = 0
        broker.add_listener(self.heard.append)
        broker.add_gap_listener(self._gap)
        broker.add_transient_listener(self._transient)

    def _gap(self) -> None:
        self.gaps += 1

    def _transient(self, user_id: int, message: dict[str, Any]) -> None:
        self.transient.append((user_id, message))

    def ids(self) -> list[tuple[int, int]]:
        return [(e.user_id, e.event_id) for e in self.heard]


@contextlib.asynccontextmanager
async def node(url: str) -> AsyncIterator[Node]:
    broker = broker_from_url(url)
    held = Node(broker)
    await broker.connect()
    try:
        if url.startswith("redis"):  # subscribed, and its first catch-up announced
            await wait_for(lambda: _true(held.gaps >= 1))
        yield held
    finally:
        await broker.disconnect()


async def _true(value: bool) -> bool:
    return value


def event(user_id: int, event_id: int, **payload: Any) -> StoredEvent:
    return StoredEvent(user_id, event_id, "order_status_update",
                       {"orderId": 1, "status": "assigned", **payload},
                       datetime(2026, 1, 1, tzinfo=UTC))


async def test_local_listeners_hear_an_event_before_publish_returns(broker_url: str) -> None:
    async with node(broker_url) as here:
        await here.broker.publish([event(7, 1), event(8, 1)])
        assert here.ids() == [(7, 1), (8, 1)]


async def test_a_faulty_listener_does_not_starve_the_others(broker_url: str) -> None:
    async with node(broker_url) as here:
        here.broker.add_listener(lambda _e: 1 / 0)  # type: ignore[func-returns-value]
        heard_after: list[StoredEvent] = []
        here.broker.add_listener(heard_after.append)
        await here.broker.publish([event(7, 1)])
        assert len(heard_after) == 1 and here.ids() == [(7, 1)]


def position(n: int) -> dict[str, Any]:
    return {"type": "master_location", "orderId": 1, "lat": 55.75 + n / 1000, "lon": 37.61,
            "at": "2026-01-01T00:00:00.000Z"}


async def test_local_transient_listeners_hear_a_message_before_send_returns(
        broker_url: str) -> None:
    async with node(broker_url) as here:
        await here.broker.send_transient(7, position(1))
        assert here.transient == [(7, position(1))]
        assert here.heard == []  # not an event: the event listeners never see it


async def test_a_faulty_transient_listener_does_not_starve_the_others(broker_url: str) -> None:
    async with node(broker_url) as here:
        here.broker.add_transient_listener(lambda _u, _m: 1 / 0)  # type: ignore[func-returns-value]
        heard_after: list[int] = []
        here.broker.add_transient_listener(lambda user_id, _m: heard_after.append(user_id))
        await here.broker.send_transient(7, position(1))
        assert heard_after == [7] and len(here.transient) == 1


async def test_ping_answers(broker_url: str) -> None:
    async with node(broker_url) as here:
        await here.broker.ping()


async def test_memory_presence_is_this_process_alone() -> None:
    async with node("memory://") as here:
        await here.broker.share_presence(lambda: 1 / 0, ttl_s=5)  # type: ignore[arg-type,return-value]  # never taken
        assert await here.broker.cluster_presence() == []
        assert here.gaps == 0


async def test_an_unknown_scheme_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="'nats'"):
        broker_from_url("nats://127.0.0.1:4222")


# -- Redis: what crosses processes -------------------------------------------------------

async def test_events_reach_every_other_process_once_in_order(redis_server: RedisServer) -> None:
    async with node(redis_server.url) as a, node(redis_server.url) as b, \
            node(redis_server.url) as c:
        await a.broker.publish([event(1, 1), event(1, 2)])
        await a.broker.publish([event(2, 1)])
        await wait_for(lambda: _true(len(b.heard) == 3 and len(c.heard) == 3))
        await asyncio.sleep(0.2)  # its own messages come back from Redis: they are skipped
        assert a.ids() == b.ids() == c.ids() == [(1, 1), (1, 2), (2, 1)]
        assert b.heard[0] == event(1, 1)  # payload, type and time survive the trip


async def test_transient_messages_reach_every_other_process_once_in_order(
        redis_server: RedisServer) -> None:
    async with node(redis_server.url) as a, node(redis_server.url) as b, \
            node(redis_server.url) as c:
        for n in range(1, 4):
            await a.broker.send_transient(5, position(n))
        await a.broker.publish([event(5, 1)])  # events and transients share the way
        await wait_for(lambda: _true(len(b.transient) == 3 and len(c.transient) == 3
                                     and len(c.heard) == 1))
        await asyncio.sleep(0.2)  # its own come back from Redis: they are skipped
        expected = [(5, position(n)) for n in range(1, 4)]
        assert a.transient == b.transient == c.transient == expected


async def test_a_transient_lost_while_redis_is_down_is_no_gap_and_stays_lost(
        redis_server: RedisServer) -> None:
    async with node(redis_server.url) as a, node(redis_server.url) as b:
        await a.broker.send_transient(5, position(1))
        await wait_for(lambda: _true(len(b.transient) == 1))
        redis_server.kill()
        started = time.monotonic()
        for n in range(2, 102):
            await a.broker.send_transient(5, position(n))
        assert time.monotonic() - started < 1.5  # none waits for the dead server
        assert len(a.transient) == 101  # this process's listeners still hear them
        await asyncio.sleep(0.3)
        redis_server.start()
        await wait_for(lambda: _true(b.gaps >= 2), within=10)  # b's own resubscription
        gaps_after = b.gaps
        await a.broker.send_transient(5, position(200))
        await wait_for(lambda: _true((5, position(200)) in b.transient), within=10)
        assert b.gaps == gaps_after  # a's lost transients announced no gap
        # Nothing is replayed: b heard the first and whatever the queue still held when Redis
        # came back (those not older than the stale limit), never one twice, in order.
        numbers = [round((m["lat"] - 55.75) * 1000) for _u, m in b.transient]
        assert numbers == sorted(set(numbers)) and numbers[0] == 1 and numbers[-1] == 200


async def test_presence_is_shared_and_vanishes_with_its_ttl(redis_server: RedisServer) -> None:
    async with node(redis_server.url) as a, node(redis_server.url) as b:
        await a.broker.share_presence(lambda: b'{"a": 1}', ttl_s=0.5)
        await b.broker.share_presence(lambda: b'{"b": 1}', ttl_s=60)
        assert await b.broker.cluster_presence() == [b'{"a": 1}']  # not its own
        assert await a.broker.cluster_presence() == [b'{"b": 1}']
        await wait_for(lambda: _empty(b.broker), within=3)
    async with node(redis_server.url) as c:  # b left cleanly: its entry went with it
        assert await c.broker.cluster_presence() == []


async def _empty(broker: Broker) -> bool:
    return await broker.cluster_presence() == []


async def test_malformed_messages_are_ignored(redis_server: RedisServer) -> None:
    async with node(redis_server.url) as a, node(redis_server.url) as b:
        async with Redis.from_url(redis_server.url) as raw:
            for junk in (b"not json", b'{"node": "x"}', b'{"node": "x", "events": [[1]]}', b"[]"):
                await raw.publish("dispatchwire:events", junk)
        await a.broker.publish([event(3, 1)])
        await wait_for(lambda: _true(b.ids() == [(3, 1)]))


async def test_redis_down_publish_is_prompt_and_local_listeners_still_hear(
        redis_server: RedisServer) -> None:
    async with node(redis_server.url) as a:
        redis_server.kill()
        started = time.monotonic()
        for i in range(1, 101):
            await a.broker.publish([event(5, i)])
        # Less than one Redis timeout (2 s) for all of them: none waits for the dead server.
        assert time.monotonic() - started < 1.5
        assert len(a.heard) == 100
        with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, it raises
            await a.broker.ping()


async def test_after_an_outage_every_process_is_told_to_catch_up(
        redis_server: RedisServer) -> None:
    async with node(redis_server.url) as a, node(redis_server.url) as b:
        gaps_before = b.gaps
        redis_server.kill()
        await a.broker.publish([event(9, 1)])  # lost for b: it is stored, b must read it
        await asyncio.sleep(0.3)
        redis_server.start()
        await wait_for(lambda: _true(b.gaps > gaps_before), within=10)
        await a.broker.publish([event(9, 2)])  # and live delivery is back
        await wait_for(lambda: _true((9, 2) in b.ids()), within=10)
        assert (9, 1) not in b.ids()
