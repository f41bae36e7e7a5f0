"""Reconnect attempts are spread by jitter: forty clients lose the server at the same instant,
and their attempts to come back are scattered over the backoff window, not bunched."""

import asyncio
import statistics
import time
from typing import Any

from dispatchwire.client import Attempt, Backoff, CustomerClient, Options, State
from tests.client.conftest import Server, eventually, register

CLIENTS = 40
BASE = 0.5  # first retry within [0, 1 s], second within [0, 2 s]


async def test_reconnect_attempts_of_many_clients_are_spread(make_server: Any) -> None:
    server: Server = make_server()
    accounts = await asyncio.gather(*(register(server, "client") for _ in range(CLIENTS)))
    attempts: list[list[Attempt]] = [[] for _ in accounts]
    options = Options(poll=False, backoff=Backoff(base=BASE, cap=8.0))
    clients = [CustomerClient(server.url, token=account.token, options=options,
                              on_attempt=attempts[i].append)
               for i, account in enumerate(accounts)]
    try:
        await asyncio.gather(*(client.start() for client in clients))
        assert all(client.state.value is State.CONNECTED for client in clients)
        killed_at = time.time()
        server.kill()
        await eventually(lambda: all(len(made) >= 3 for made in attempts), within=10)
    finally:
        await asyncio.gather(*(client.close() for client in clients))

    for number, window in ((1, 2 * BASE), (2, 4 * BASE)):
        # when each client's retry `number` started, counted from the kill
        times = sorted(made[number].at - killed_at for made in attempts)
        assert all(made[number].number == number for made in attempts)
        spread = times[-1] - times[0]
        assert spread > 0.5 * window, (number, times)  # over most of the window ...
        assert statistics.stdev(times) > window / 8, (number, times)
        busiest = max(sum(1 for t in times if start <= t < start + 0.01) for start in times)
        assert busiest <= 8, (number, times)  # ... and never a crowd in one 10 ms
    first = sorted(made[1].at - killed_at for made in attempts)
    assert first[0] < 0.3 * 2 * BASE  # the first retry is jittered from 0, not after a pause
