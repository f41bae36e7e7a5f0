"""`dispatchwire watch`: the raw frames of one user's socket, one JSON object a line.

Like wscat, but it logs in, authenticates, subscribes (masters), resumes: given
`--last-event-id` it starts with the replay of everything after it, and after a drop it
reconnects with backoff and picks up after the last `eventId` it printed, so no event is
printed twice or missed, unless the server has deleted them meanwhile (older than its
retention: `auth_success` then says `"recovered": false`, and a `# ...` line says so).
Connection changes go to standard error as `# ...` lines.
"""

import asyncio
import json
import sys
from typing import Any, TextIO

from dispatchwire.client._client import Client
from dispatchwire.client._errors import ClientError
from dispatchwire.client._link import Attempt
from dispatchwire.client._options import Options
from dispatchwire.client._run import STOP_SIGNALS
from dispatchwire.client._state import State

__all__ = ["run_watch"]


async def run_watch(url: str, *, email: str | None = None, password: str | None = None,
                    token: str | None = None, last_event_id: int | None = None,
                    options: Options | None = None, out: TextIO = sys.stdout,
                    err: TextIO = sys.stderr) -> int:
    """Print frames until interrupted; the exit status."""

    def frame(data: dict[str, Any]) -> None:
        out.write(json.dumps(data, ensure_ascii=False) + "\n")
        out.flush()
        if data.get("type") == "auth_success" and data.get("recovered") is False:
            err.write("# the events missed since the last one printed were deleted on the "
                      "server (older than its retention): not replayed\n")
            err.flush()

    def attempt(made: Attempt) -> None:
        if made.number:
            err.write(f"# reconnecting: attempt {made.number} after {made.delay:.1f} s\n")

    def state(value: State) -> None:
        err.write(f"# {value}\n")
        err.flush()

    options = options or Options(poll=False)
    client = Client(url, email=email, password=password, token=token,
                    last_event_id=last_event_id, options=options, on_frame=frame,
                    on_attempt=attempt)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        await client.start()
    except ClientError as exc:
        err.write(f"dispatchwire watch: {exc}\n")
        return 1
    # Subscribed only now, with the state the start reached printed once: subscribing before
    # the start printed `# connected` twice.
    client.state.subscribe(state)
    state(client.state.value)
    waits = [loop.create_task(client.state.wait_for(State.CLOSED)),
             loop.create_task(stop.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in waits:
        task.cancel()
    await client.close()
    if client.error is not None:
        err.write(f"dispatchwire watch: {client.error}\n")
        return 1
    return 0
