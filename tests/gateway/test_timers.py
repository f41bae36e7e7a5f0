"""The gateway's per-socket timers share one empty context rather than copying the caller's."""

import asyncio
import contextvars

from dispatchwire.gateway.timers import later

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="bare")


async def test_timers_run_in_the_shared_empty_context_and_on_time() -> None:
    marker.set("the caller's")
    seen: list[tuple[str, str]] = []
    done = asyncio.Event()

    def fired(name: str) -> None:
        seen.append((name, marker.get()))
        if len(seen) == 2:
            done.set()

    loop = asyncio.get_running_loop()
    started = loop.time()
    later(0.05, fired, "second")
    later(0.01, fired, "first")
    await asyncio.wait_for(done.wait(), 2)
    assert seen == [("first", "bare"), ("second", "bare")]
    assert loop.time() - started >= 0.05
