"""The Redis broker's loops end when their task is cancelled, even when redis-py swallows the
cancellation (as it may while connecting), whether it answers with an error of its own or
returns as if nothing happened: `disconnect` cancels the loops and waits for them, so a loop
that went on hung `dispatchwire create-admin` in CI."""

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from dispatchwire.broker.redis import _forever

pytestmark = pytest.mark.timeout(30)


async def ends_when_cancelled(on_cancel: BaseException | None) -> None:
    started = asyncio.Event()

    async def connecting() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            if on_cancel is not None:
                raise on_cancel from None
            # else swallowed: returns as if the step were done

    loop = asyncio.create_task(_forever("listening to Redis", connecting))
    await started.wait()
    loop.cancel()
    done, _ = await asyncio.wait([loop], timeout=5)
    assert done, "the loop went on after its cancel"
    assert loop.cancelled()


async def test_a_cancel_turned_into_a_redis_error_still_ends_the_loop() -> None:
    await ends_when_cancelled(RedisConnectionError("Connection closed by server."))


async def test_a_cancel_swallowed_still_ends_the_loop() -> None:
    await ends_when_cancelled(None)
