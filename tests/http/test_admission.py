"""New connections are let in a few per pass of the event loop, all of them, in order."""

import asyncio

import pytest
from prometheus_client import REGISTRY

from dispatchwire.http.admission import Admission, OneWrite
from tests.gateway.support import Live


def waiting() -> float:
    return REGISTRY.get_sample_value("dispatchwire_connections_waiting") or 0.0


async def test_a_burst_is_let_in_a_few_per_pass_in_order_of_arrival() -> None:
    admission = Admission(per_pass=4)
    started: list[int] = []
    waiting_before = waiting()
    for n in range(10):
        admission.admit(lambda n=n: started.append(n))
    assert started == [] and len(admission) == 10  # nothing runs in the pass that admits
    assert waiting() == waiting_before + 10
    seen_per_pass = []
    while len(started) < 10:
        await asyncio.sleep(0)  # one pass of the loop
        seen_per_pass.append(len(started))
    assert started == list(range(10))
    assert seen_per_pass[:3] == [4, 8, 10]
    assert waiting() == waiting_before
    admission.admit(lambda: started.append(10))  # an idle gate starts again
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert started[-1] == 10 and len(admission) == 0


async def test_a_connection_failing_as_it_is_let_in_does_not_hold_up_the_rest(
        caplog: pytest.LogCaptureFixture) -> None:
    admission = Admission(per_pass=2)
    started: list[int] = []

    def broken() -> None:
        raise RuntimeError("broken connection")

    for start in (broken, lambda: started.append(1), lambda: started.append(2)):
        admission.admit(start)
    for _ in range(3):
        await asyncio.sleep(0)
    assert started == [1, 2] and len(admission) == 0
    assert "failed as it was let in" in caplog.text
    admission.admit(lambda: started.append(3))  # and the gate still works
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert started == [1, 2, 3]


async def test_a_burst_of_sockets_all_get_through_and_are_served(live: Live) -> None:
    master = await live.api.master()
    client = await live.api.register("client")
    sockets = await asyncio.gather(*(live.socket().connect() for _ in range(150)))
    try:
        replies = await asyncio.gather(*(ws.auth(client) for ws in sockets))
        assert all(reply["type"] == "auth_success" for reply in replies)
        ws = await live.master_socket(master)  # one more, after the burst
        await ws.close()
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_response_head_goes_out_with_its_body_in_one_write() -> None:
    raw = Recorder()
    responses = OneWrite(raw)  # type: ignore[arg-type]
    responses.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # an interim answer: at once
    assert raw.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    responses.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert len(raw.writes) == 1
    responses.write(b"ok")
    assert raw.writes[1] == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    responses.write(b"more")  # a streamed body's later parts: as they come
    assert raw.writes[2] == b"more"
    responses.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    responses.flush()  # the response ended with no body written
    assert raw.writes[3] == b"HTTP/1.1 204 No Content\r\n\r\n"
    responses.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    responses.close()  # an app that failed midway: the head still goes before the close
    assert raw.writes[4].startswith(b"HTTP/1.1 500") and raw.closed
    assert responses.is_closing()  # the rest is the transport's


async def test_responses_with_and_without_a_body_reach_a_raw_client_whole(live: Live) -> None:
    port = int(live.http_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        # One keep-alive connection; a HEAD's response (a 405 here) has a head and no body.
        for method in ("GET", "HEAD", "GET"):
            writer.write(f"{method} /health HTTP/1.1\r\nhost: x\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 " if method == "GET" else b"HTTP/1.1 405 ")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if method == "GET":
                body = await asyncio.wait_for(reader.readexactly(length), 5)
                assert body.startswith(b"{")
    finally:
        writer.close()
