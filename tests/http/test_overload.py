"""Past its limit the server refuses new orders early (503, `Retry-After`) rather than make
every client wait, and keeps taking cancels (http/overload.py). A real server process is
overloaded for real: several connections each pipeline a hundred requests at once, so that
the later ones wait in the server for the earlier ones."""

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Person
from tests.gateway.support import Live
from tests.gateway.test_load import Running, order_body, running_server

pytestmark = pytest.mark.timeout(180)

CONNECTIONS, PIPELINED = 8, 100


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return orjson.loads(self.body)


def request(method: str, path: str, person: Person, body: dict[str, Any]) -> bytes:
    data = orjson.dumps(body)
    return (f"{method} {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {person.token}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
            ).encode() + data


async def pipelined(server: Running, requests: list[bytes]) -> list[Answer]:
    """Write every request on one connection at once; read their answers, in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.process.port)
    try:
        writer.write(b"".join(requests))
        await writer.drain()
        return [await read_answer(reader) for _ in requests]
    finally:
        writer.close()


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
    body = await reader.readexactly(int(headers["content-length"]))
    return Answer(int(head[0].split()[1]), headers, body)


async def place_at_once(server: Running, client: Person) -> list[Answer]:
    batches = [[request("POST", "/api/orders", client, order_body(c * PIPELINED + i))
                for i in range(PIPELINED)] for c in range(CONNECTIONS)]
    results = await asyncio.gather(*(pipelined(server, batch) for batch in batches))
    return [answer for answers in results for answer in answers]


async def refused_metric(server: Running) -> float:
    text = (await server.http.get("/metrics")).text
    found = re.search(r"^dispatchwire_orders_refused_overloaded_total (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_past_its_limit_new_orders_are_refused_at_once_and_the_rest_are_taken(
        tmp_path: Path) -> None:
    async with running_server(tmp_path, DISPATCHWIRE_OVERLOAD_QUEUE_MS="1") as server:
        client = await server.register("client", 1)
        answers = await place_at_once(server, client)
        statuses = Counter(answer.status for answer in answers)
        assert set(statuses) <= {201, 503}, statuses  # never a 500, never a timeout
        assert statuses[503] > 0 and statuses[201] > 0, statuses
        for answer in answers:
            if answer.status == 503:
                assert answer.headers["retry-after"] == "1"
                assert "overloaded" in answer.json()["detail"]
        # What was taken is stored, what was refused is not
        placed = {answer.json()["id"] for answer in answers if answer.status == 201}
        listed = [order for offset in (0, 500) for order in await server.call(
            "GET", f"/api/orders?limit=500&offset={offset}", client)]
        assert {order["id"] for order in listed} == placed
        assert await refused_metric(server) == statuses[503]
        assert "overloaded: requests stay" in (tmp_path / "server.log").read_text()  # said

        # Cancels finish work under way: never refused, however long they queue.
        cancels = [request("POST", f"/api/orders/{order_id}/status", client,
                           {"status": "cancelled"}) for order_id in sorted(placed)]
        chunks = [cancels[i::CONNECTIONS] for i in range(CONNECTIONS)]
        cancelled = await asyncio.gather(*(pipelined(server, chunk) for chunk in chunks))
        assert Counter(a.status for answers in cancelled for a in answers) == {200: len(placed)}


async def test_with_the_limit_at_zero_every_order_is_taken(tmp_path: Path) -> None:
    async with running_server(tmp_path, DISPATCHWIRE_OVERLOAD_QUEUE_MS="0") as server:
        client = await server.register("client", 1)
        answers = await place_at_once(server, client)
        assert Counter(answer.status for answer in answers) == {201: CONNECTIONS * PIPELINED}
        assert await refused_metric(server) == 0


async def test_a_new_order_is_refused_as_soon_as_its_head_is_read_and_its_connection_goes_on(
        live: Live) -> None:
    """While the server is overloaded (here: with no room at all), a new order on a connection
    kept alive is answered by the HTTP protocol itself (`EarlyRefusals`) with the fast lane's own
    answer; its body is read and dropped, and the connection's next requests are served."""
    client = await live.api.register("client")
    refusals = live.app.state.early_refusals
    refusals.overload.limit = 0.0
    order = request("POST", "/api/orders", client, order_body(1))
    head, body = order.split(b"\r\n\r\n", 1)
    port = int(live.http_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + b"\r\n\r\n")  # its body comes later: it must not be read as a request
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(body)
        early = [await read_answer(reader)]
        writer.write(order + order)  # two at once: the second waits for the first, then goes
        early += [await read_answer(reader), await read_answer(reader)]
        writer.write(f"GET /api/orders HTTP/1.1\r\nhost: test\r\n"
                     f"authorization: Bearer {client.token}\r\n\r\n".encode())
        listed = await read_answer(reader)
    finally:
        writer.close()
    assert listed.status == 200 and listed.json() == []  # nothing refused was stored
    assert refusals.refused == 3

    # A connection that ends with its request goes the usual way: the lane refuses it, alike.
    closing = order.replace(b"host: test\r\n", b"host: test\r\nconnection: close\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(closing)
    by_lane = await read_answer(reader)
    writer.close()
    assert refusals.refused == 3
    assert by_lane.status == 503 and by_lane.headers["retry-after"] == "1"
    assert "overloaded" in by_lane.json()["detail"]

    def alike(answer: Answer) -> tuple[object, ...]:
        return answer.status, answer.body, sorted(
            (name, value) for name, value in answer.headers.items()
            if name not in ("date", "connection"))

    assert [alike(answer) for answer in early] == [alike(by_lane)] * 3
