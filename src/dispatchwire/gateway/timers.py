"""Per-socket timers that share one empty context instead of copying the current one each.

`loop.call_later` copies the current `contextvars` context for every timer it makes. A socket
keeps a timer for most of its life (its keepalive; its token's expiry is in `expiries`), so
10,000 sockets kept thousands of these copies for the collector to walk. The gateway's
callbacks read no context variables, and the loop runs callbacks one at a time, so one empty
context serves them all.
"""

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

__all__ = ["later"]

_BARE = contextvars.Context()


def later(delay: float, callback: Callable[..., object], *args: Any) -> asyncio.TimerHandle:
    """`loop.call_later(delay, callback, *args)`, in the shared empty context."""
    return asyncio.get_running_loop().call_later(delay, callback, *args, context=_BARE)
