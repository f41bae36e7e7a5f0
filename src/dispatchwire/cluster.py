"""Presence shared across processes: each shares its own part and keeps the others'.

A process shares its snapshot every interval, and soon after a subscription comes or goes (at
most every `MIN_GAP_S`, so that a reconnect storm is shared in a few snapshots, not thousands).
A process that dies stops refreshing its snapshot, and the broker lets it vanish after three
intervals: its sockets drop out of the stats and of dispatch's preference within that time.
"""

import asyncio
import contextlib
import logging

from dispatchwire.context import Context

__all__ = ["refresh_presence", "share_presence_forever"]

log = logging.getLogger(__name__)

MIN_GAP_S = 0.25


async def refresh_presence(ctx: Context) -> None:
    """Share this process's presence and read every other process's."""
    ttl_s = 3 * ctx.settings.presence_interval_s
    await ctx.broker.share_presence(ctx.presence.snapshot, ttl_s=ttl_s)
    ctx.presence.set_remote(await ctx.broker.cluster_presence())


async def share_presence_forever(ctx: Context) -> None:
    """Refresh presence every interval until cancelled; failures are logged once per outage."""
    failing = False
    interval = ctx.settings.presence_interval_s
    while True:
        ctx.presence.changed.clear()  # before the snapshot: a change during it comes next
        try:
            await refresh_presence(ctx)
            if failing:
                log.info("presence is shared with the cluster again")
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not failing:
                log.warning("could not share presence with the cluster (%s); other processes "
                            "see this one's sockets again once the broker answers",
                            type(exc).__name__)
            failing = True
        await asyncio.sleep(min(MIN_GAP_S, interval))
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
        # lands as the event is set (a shutdown closing every socket does both at once), and
        # this loop would then never end.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await ctx.presence.changed.wait()
