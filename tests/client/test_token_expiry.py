"""Tokens that run out mid-connection (3 s lifetime here) are survived with no event lost:
by renewing the token on the open socket, and, when the application's token provider only
gives one after the server closed the socket (4401), by reconnecting with the last eventId."""

import asyncio
import dataclasses
from typing import Any

import httpx

from dispatchwire.client import Attempt, Backoff, MasterClient, NewOffer, Options, State
from tests.client.conftest import Account, Server, place_order, register, unique_appliance

TTL_S = 3
JOBS = 4  # each job: an offer and three status updates, four events


async def work_through_jobs(sdk: MasterClient, server: Server, customer: Account,
                            appliance: str) -> list[int]:
    """Jobs one after another over more than two token lifetimes; the event ids seen."""
    seen: list[int] = []
    events = sdk.events()
    for _ in range(JOBS):
        await place_order(server, customer, appliance)
        event = await asyncio.wait_for(anext(events), 10)
        assert isinstance(event, NewOffer)
        seen.append(event.event_id or 0)
        order = await sdk.accept(event.offer)  # REST calls carry on past expiries too
        await asyncio.sleep(0.4)
        for status in ("in_progress", "completed"):
            await sdk.set_status(order.id, status)
            await asyncio.sleep(0.4)
        for _ in range(3):
            seen.append((await asyncio.wait_for(anext(events), 10)).event_id or 0)
    return seen


async def test_token_expiry_mid_connection_loses_no_event(make_server: Any) -> None:
    server: Server = make_server(DISPATCHWIRE_JWT_TTL_S=str(TTL_S))
    renewing, late = unique_appliance(), unique_appliance()
    masters = [await register(server, "master", specializations=[a]) for a in (renewing, late)]
    customer = await register(server, "client")

    provided: list[str] = []

    async def late_provider() -> str:
        """The application's own login, asked only once the server has refused the token."""
        async with httpx.AsyncClient(base_url=server.url) as http:
            answer = await http.post("/api/auth/login", json={
                "email": masters[1].email, "password": masters[1].password})
        provided.append(answer.json()["token"])
        return provided[-1]

    fast = Options(backoff=Backoff(base=0.05, cap=0.2), poll_after_attempts=3)
    attempts: list[list[Attempt]] = [[], []]
    states: list[list[State]] = [[], []]
    first = MasterClient(server.url, email=masters[0].email, password=masters[0].password,
                         options=fast, on_attempt=attempts[0].append)
    second = MasterClient(server.url, token_provider=late_provider,
                          options=dataclasses.replace(fast, renew_tokens=False),
                          on_attempt=attempts[1].append)
    async with first, second:
        tokens = [first.token]
        first.state.subscribe(states[0].append)
        second.state.subscribe(states[1].append)
        seen = await asyncio.gather(work_through_jobs(first, server, customer, renewing),
                                    work_through_jobs(second, server, customer, late))
        tokens.append(first.token)

    every = list(range(1, 4 * JOBS + 1))
    assert seen == [every, every]  # both: every event, once, in order
    # Renewed on the open socket: a new token, and one connection all along.
    assert tokens[0] != tokens[1]
    assert [a.number for a in attempts[0]] == [0] and states[0] == [State.CLOSED]
    # Refused at expiry (4401), then a fresh token from the provider and a resumed socket.
    assert len(attempts[1]) >= 2 and State.RECONNECTING in states[1]
    assert len(provided) >= 2
