"""The chat over real sockets: each message reaches the order's client and master live as a
stored `chat_message`, and one sent while a socket was down arrives on its resume, in order,
once."""

from typing import Any

from tests.conftest import Api, Person
from tests.dispatch.support import on_a_job
from tests.gateway.support import Live, WsClient


async def say(api: Api, who: Person, order: dict[str, Any], text: str, **fields: Any) -> Any:
    return await api.call("POST", f"/api/orders/{order['id']}/messages", who, expect=None,
                          json={"text": text, **fields})


async def chat_frames(ws: WsClient, count: int) -> list[dict[str, Any]]:
    # 10 s: once in CI (PostgreSQL, two workers, a loaded machine) the first took over 3 s
    return [await ws.recv_until("chat_message", timeout=10.0) for _ in range(count)]


async def test_a_message_reaches_the_client_and_the_master_live(live_any: Live) -> None:
    api = live_any.api
    master, client, order = await on_a_job(api)
    other = await api.register("client")
    async with live_any.socket() as client_ws, live_any.socket() as master_ws, \
            live_any.socket() as other_ws:
        await client_ws.auth(client)
        await master_ws.auth(master)
        await other_ws.auth(other)
        sent = await say(api, client, order, "The code of the door is 1234")
        for ws in (client_ws, master_ws):  # the author's own socket too
            [frame] = await chat_frames(ws, 1)
            assert frame["message"] == sent
            assert isinstance(frame["eventId"], int)
        reply = await say(api, master, order, "Thanks, on my way")
        for ws in (client_ws, master_ws):
            assert [f["message"] for f in await chat_frames(ws, 1)] == [reply]
        await other_ws.no_frame(0.3)


async def test_messages_sent_while_the_socket_was_down_arrive_on_resume_in_order_once(
        live_any: Live) -> None:
    api = live_any.api
    master, client, order = await on_a_job(api)
    async with live_any.socket() as ws:
        await ws.auth(client)
        first = await say(api, master, order, "I am on my way")
        [frame] = await chat_frames(ws, 1)
        assert frame["message"] == first
        last_seen = frame["eventId"]
    # The client's socket is down: the master writes, and the client's other device too.
    missed = [await say(api, master, order, f"message {n}") for n in range(3)]
    missed.append(await say(api, client, order, "from my laptop", clientMessageId="lap-1"))
    await say(api, client, order, "from my laptop (retried)", clientMessageId="lap-1")
    async with live_any.socket() as ws:
        await ws.auth(client, lastEventId=last_seen)
        replayed = await chat_frames(ws, 4)
        assert [f["message"] for f in replayed] == missed
        ids = [f["eventId"] for f in replayed]
        assert ids == sorted(ids) and len(set(ids)) == 4 and ids[0] > last_seen
        await ws.no_frame(0.4)  # nothing twice, nothing more
        live = await say(api, master, order, "see you")
        assert [f["message"] for f in await chat_frames(ws, 1)] == [live]
