"""Running an application of the SDK until it ends or the process is told to stop."""

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

__all__ = ["STOP_SIGNALS", "run_until_stopped"]

# Ctrl-C, `kill` (and systemd, Docker), and the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_until_stopped(main: Coroutine[Any, Any, object]) -> signal.Signals | None:
    """Run `main` until it returns, or until the process gets SIGINT (Ctrl-C), SIGTERM or
    SIGHUP (its terminal closed). A signal cancels `main`, which then unwinds as from any
    cancellation: a client in `async with` ends the master's shift and closes its socket on
    the way out. Returns the signal that stopped it, or None when `main` returned by itself;
    `main`'s own exceptions propagate. A second signal cancels the unwinding too."""
    return asyncio.run(_until_stopped(main))


async def _until_stopped(main: Coroutine[Any, Any, object]) -> signal.Signals | None:
    loop = asyncio.get_running_loop()
    task = loop.create_task(main)
    received: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        received.append(signum)
        task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        await task
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    return received[0] if received else None
