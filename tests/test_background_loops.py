"""The background loops end when cancelled, even when the event they sleep on fires at once.

On Python 3.11 `asyncio.wait_for` swallows a cancellation that arrives as the awaited event is
set. A shutdown does exactly that: closing every socket sets the presence event while the
lifespan cancels the loop waiting on it, and the loop then ran on and held the shutdown until
the process was killed.
"""

import asyncio
import secrets
from pathlib import Path

import pytest

from dispatchwire.alarm import Alarm
from dispatchwire.clock import utcnow
from dispatchwire.cluster import MIN_GAP_S, share_presence_forever
from dispatchwire.context import open_context
from dispatchwire.settings import Settings


async def ends_when_cancelled(task: asyncio.Task[None], wake: object, *,
                              asleep_after_s: float = 0.05) -> None:
    await asyncio.sleep(asleep_after_s)
    wake()  # type: ignore[operator]
    task.cancel()  # in the same pass of the loop as the wake-up
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(2):
            await task


async def test_the_expiry_alarm_ends_when_cancelled_as_a_deadline_wakes_it() -> None:
    alarm = Alarm()
    sleeping = asyncio.create_task(alarm.sleep(30))
    await ends_when_cancelled(sleeping, lambda: alarm.note(utcnow()))


async def test_the_presence_loop_ends_when_cancelled_as_a_socket_goes(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite",
                        jwt_secret=secrets.token_urlsafe(48), presence_interval_s=30)
    async with open_context(settings) as ctx:
        sharing = asyncio.create_task(share_presence_forever(ctx))
        # Asleep on the event once its first share and the short gap after it are done.
        await ends_when_cancelled(sharing, ctx.presence.changed.set,
                                  asleep_after_s=MIN_GAP_S + 0.2)
