"""A replay longer than `WS_SEND_TIMEOUT_S`: the timeout bounds a wait for a reader that stopped,
not the length of a replay. A client that reads on, however slowly, gets its whole backlog; one
that stops reading in the middle is cut off (1013) and resumes from its last event, losing
nothing. Real sockets with small receive buffers, so that the server does wait for room."""

import asyncio
import json
import time
from typing import Any

import pytest

from dispatchwire.clock import isoformat, utcnow
from tests.conftest import Api, Person
from tests.gateway.support import Live
from tests.gateway.test_load import OP_CLOSE, OP_PING, OP_TEXT, RawPeer, client_frame

OP_PONG = 0xA

SEND_TIMEOUT_S = 0.5
# Offers with the longest problem and address an order may have: ~2.7 KiB a frame, 8 MiB in
# all, more than the kernel's buffers (up to 4 MiB a socket) and the transport's hold.
BACKLOG = 3000
RECEIVE_BUFFER = 4096


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"ws_send_timeout_s": SEND_TIMEOUT_S, "ws_send_queue": 16}


async def backlog_of(api: Api, master: Person) -> None:
    """BACKLOG stored offers for `master`, committed in batches, as dispatch stores them."""
    now = isoformat(utcnow())
    for batch in range(BACKLOG // 50):
        async with api.ctx.db.transaction() as uow:
            for n in range(batch * 50, batch * 50 + 50):
                api.ctx.outbox.emit(uow, master.id, "new_assignment", {"assignment": {
                    "id": n + 1, "orderId": n + 1, "applianceType": "oven",
                    "problem": "p" * 2000, "address": "a" * 500, "expiresAt": now,
                    "createdAt": now}})


async def resuming_peer(live: Live, who: Person, after: int) -> RawPeer:
    peer = await RawPeer.open(int(live.http_url.rsplit(":", 1)[1]),
                              receive_buffer=RECEIVE_BUFFER)
    await peer.send_text(json.dumps({"type": "auth", "token": who.token,
                                     "lastEventId": after}))
    opcode, data = await peer.frame()
    assert opcode == OP_TEXT and json.loads(data)["type"] == "auth_success"
    return peer


async def event_id(peer: RawPeer) -> int:
    """The next frame's event id; the pings after offers are answered, as any client does."""
    opcode, data = await peer.frame()
    while opcode == OP_PING:
        await peer.send_raw(client_frame(OP_PONG, data))
        opcode, data = await peer.frame()
    assert opcode == OP_TEXT, (opcode, data)
    return int(json.loads(data)["eventId"])


async def test_a_slow_reader_gets_a_replay_that_outlasts_the_send_timeout(live: Live) -> None:
    master = await live.api.register("master")
    await backlog_of(live.api, master)
    peer = await resuming_peer(live, master, after=0)
    started = time.monotonic()
    ids = []
    try:
        while len(ids) < BACKLOG:
            ids.append(await event_id(peer))
            if len(ids) % 200 == 0:
                await asyncio.sleep(SEND_TIMEOUT_S / 5)  # slow, yet never stalled that long
    finally:
        peer.close()
    took = time.monotonic() - started
    assert ids == list(range(1, BACKLOG + 1))
    assert took > 2 * SEND_TIMEOUT_S, f"the replay took {took:.2f} s: it outlasted nothing"


async def test_a_reader_that_stops_mid_replay_is_cut_off_and_resumes_losing_nothing(
        live: Live) -> None:
    master = await live.api.register("master")
    await backlog_of(live.api, master)
    peer = await resuming_peer(live, master, after=0)
    ids = [await event_id(peer) for _ in range(100)]
    await asyncio.sleep(SEND_TIMEOUT_S + 1.0)  # stop reading: the server waits, then gives up
    rest = await peer.rest(within=10)  # what was in the buffers, then the close (or an abort)
    peer.close()
    ids += [int(json.loads(data)["eventId"]) for opcode, data in rest if opcode == OP_TEXT]
    closes = [data for opcode, data in rest if opcode == OP_CLOSE]
    assert ids == list(range(1, len(ids) + 1))
    assert len(ids) < BACKLOG, "the whole replay fit in the buffers: nobody was cut off"
    assert not closes or int.from_bytes(closes[0][:2], "big") == 1013, closes

    again = await resuming_peer(live, master, after=ids[-1])
    try:
        more = [await event_id(again) for _ in range(BACKLOG - len(ids))]
    finally:
        again.close()
    assert more == list(range(len(ids) + 1, BACKLOG + 1))
