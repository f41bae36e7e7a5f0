"""Inbound frames read without websockets' parser (gateway/frames.py): the small text frames it
takes, the rest it leaves, and a real socket fed frames cut and mixed every way."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from dispatchwire.gateway.frames import at_frame_boundary, small_text_frames, text_frame
from tests.gateway.support import Live

pytestmark = pytest.mark.timeout(60)

PING = json.dumps({"type": "ping"})
PADDED_PING = json.dumps({"type": "ping", "pad": "x" * 300})  # over 125 bytes: websockets'


def client_frame(opcode: Opcode, data: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    frame = Frame(opcode, data, fin=fin).serialize(mask=True, extensions=[])
    return bytes([frame[0] | 0x40]) + frame[1:] if rsv1 else frame  # RSV1: compressed


def text(data: str, **flags: bool) -> bytes:
    return client_frame(Opcode.TEXT, data.encode(), **flags)


def open_pair() -> tuple[ClientProtocol, ServerProtocol]:
    client, server = ClientProtocol(parse_uri("ws://localhost/ws")), ServerProtocol()
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    server.send_response(server.accept(server.events_received()[0]))
    client.receive_data(b"".join(server.data_to_send()))
    return client, server


def test_small_text_frames_are_taken_up_to_the_first_other_byte() -> None:
    small = [text(PING), text(""), text("é" * 62)]
    taken, at = small_text_frames(b"".join(small) + text(PING)[:5])
    assert taken == [PING.encode(), b"", ("é" * 62).encode()]
    assert at == sum(map(len, small))
    for other in (text(PADDED_PING), client_frame(Opcode.BINARY, b"x"),
                  client_frame(Opcode.PING, b"x"), text(PING, fin=False),
                  text(PING, rsv1=True),  # compressed: websockets inflates it
                  Frame(Opcode.TEXT, PING.encode()).serialize(mask=False, extensions=[])):
        assert small_text_frames(text(PING) + other + text(PING)) == ([PING.encode()],
                                                                      len(text(PING)))


def test_the_parser_is_at_a_frame_boundary_only_between_whole_messages() -> None:
    _, server = open_pair()
    assert at_frame_boundary(server)
    frame = text(PING)
    server.receive_data(frame[:2])  # the header read, the mask not yet
    assert not server.reader.buffer and not at_frame_boundary(server)
    server.receive_data(frame[2:])
    assert [e.data for e in server.events_received()] == [PING.encode()]
    assert at_frame_boundary(server)
    server.receive_data(text("part", fin=False))  # a message begun, not ended
    assert not at_frame_boundary(server)
    server.receive_data(client_frame(Opcode.CONT, b" two"))
    assert at_frame_boundary(server)
    server.receive_data(client_frame(Opcode.CLOSE, b"\x03\xe8"))
    assert not at_frame_boundary(server)


class RawSocket:
    """A WebSocket client over a plain TCP stream: it writes the bytes it is given, as cut."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ws = ClientProtocol(parse_uri("ws://localhost/ws"))

    @classmethod
    async def open(cls, live: Live) -> "RawSocket":
        host, port = live.http_url.removeprefix("http://").split(":")
        sock = cls(*await asyncio.open_connection(host, int(port)))
        sock.ws.send_request(sock.ws.connect())
        await sock.write(b"".join(sock.ws.data_to_send()))
        await sock.events()  # the 101
        return sock

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def events(self) -> list[object]:
        while not (events := self.ws.events_received()):
            self.ws.receive_data(await asyncio.wait_for(self.reader.read(65536), 5))
        return events

    async def frames(self, count: int) -> list[Frame]:
        got: list[Frame] = []
        while len(got) < count:
            got += [event for event in await self.events() if isinstance(event, Frame)]
        return got

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"ws_rate_per_s": 1000.0, "ws_rate_burst": 1000}  # the pings come fast


@pytest.fixture
async def raw(live: Live) -> AsyncIterator[RawSocket]:
    master = await live.api.master()
    sock = await RawSocket.open(live)
    await sock.write(text(json.dumps({"type": "auth", "token": master.token})))
    assert json.loads((await sock.frames(1))[0].data)["type"] == "auth_success"
    yield sock
    sock.close()


async def pongs(sock: RawSocket, count: int) -> list[str]:
    frames = await sock.frames(count)
    return [json.loads(f.data)["type"] if f.opcode is Opcode.TEXT else f.opcode.name
            for f in frames]


async def test_frames_cut_anywhere_and_mixed_with_others_are_each_answered(
        raw: RawSocket) -> None:
    small, large = text(PING), text(PADDED_PING)
    await raw.write(small + small + large + small)
    assert await pongs(raw, 4) == ["pong"] * 4
    for cut in range(1, len(small)):  # a small frame in two writes, cut at every byte
        await raw.write(small[:cut])
        await asyncio.sleep(0.01)
        await raw.write(small[cut:] + small)
        assert await pongs(raw, 2) == ["pong", "pong"]
    # a message in two fragments with a control frame between, then small frames behind it
    await raw.write(text('{"type":', fin=False) + client_frame(Opcode.PING, b"hi")
                    + client_frame(Opcode.CONT, b'"ping"}') + small + large[:9])
    await asyncio.sleep(0.01)
    await raw.write(large[9:] + small)
    assert await pongs(raw, 5) == ["PONG", "pong", "pong", "pong", "pong"]


async def test_a_small_frame_of_invalid_utf8_still_closes_with_1007(raw: RawSocket) -> None:
    await raw.write(client_frame(Opcode.TEXT, b"\xff\xfe") + text(PING))
    (frame,) = await raw.frames(1)
    assert frame.opcode is Opcode.CLOSE and frame.data[:2] == (1007).to_bytes(2, "big")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_written_here_is_what_websockets_writes_and_reads(size: int) -> None:
    client, server = open_pair()
    client.events_received()  # the handshake's response
    payload = b"x" * size
    server.send_text(payload)
    assert text_frame(payload) == b"".join(server.data_to_send())
    client.receive_data(text_frame(payload))
    [frame] = client.events_received()
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)
