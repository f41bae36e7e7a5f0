"""The Redis broker's retry loop ends when its task is cancelled, even when redis-py answers the
cancellation with an error of its own (as it may while connecting): `disconnect` cancels the
loops and waits for them, so a loop that retried instead hung `dispatchwire create-admin`."""

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from dispatchwire.broker.redis import _forever

pytestmark = pytest.mark.timeout(30)


async def test_a_cancel_turned_into_a_redis_error_still_ends_the_loop() -> None:
    started = asyncio.Event()

    async def connecting() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RedisConnectionError("Connection closed by server.") from None

    loop = asyncio.create_task(_forever("listening to Redis", connecting))
    await started.wait()
    loop.cancel()
    done, _ = await asyncio.wait([loop], timeout=5)
    assert done, "the loop went on retrying after its cancel"
    assert loop.cancelled()
