"""Waiting for a condition that no event announces (polled: it is cheap and rare)."""

import asyncio
import time
from collections.abc import Callable

__all__ = ["until"]


async def until(condition: Callable[[], bool], within_s: float, every_s: float = 0.05) -> bool:
    """Poll `condition` until it holds (True) or `within_s` seconds pass (False)."""
    deadline = time.monotonic() + within_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every_s)
