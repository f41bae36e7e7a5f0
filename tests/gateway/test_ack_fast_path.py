"""Acks read without the JSON parser (`protocol.ack_event_id`): only frames that `parse` reads
as the same `Ack`, and through a real socket the same answers as the long way."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatchwire.gateway.protocol import Ack, ProtocolError, ack_event_id, parse
from tests.conftest import wait_for
from tests.gateway.support import Live
from tests.gateway.test_receipts import delivered_via

pytestmark = pytest.mark.timeout(120)

TAKEN = [
    (b'{"type":"ack","eventId":7}', 7),  # the SDK's, the page's and the bench's spelling
    (b'{"type": "ack", "eventId": 42}', 42),  # Python's json.dumps
    (b' \n{ "type" :\t"ack" ,\r\n "eventId" : 123456789012345678 } \n', 123456789012345678),
]
LEFT_TO_PARSE = [
    b'{"eventId":7,"type":"ack"}',  # valid, in another order: parse reads it
    b'{"type":"ack","eventId":7,"x":1}', b'{"type":"ack","eventId":0}',
    b'{"type":"ack","eventId":07}', b'{"type":"ack","eventId":-7}', b'{"type":"ack","eventId":7.0}',
    b'{"type":"ack","eventId":"7"}', b'{"type":"ack","eventId":1234567890123456789}',
    b'{"type":"ack","eventId":7}x', b'\x0c{"type":"ack","eventId":7}',
    b'{"type":"ack","eventId":7}\xff', b'{"type":"ACK","eventId":7}', b'[{"type":"ack"}]',
]


@pytest.mark.parametrize(("frame", "event_id"), TAKEN)
def test_an_ack_in_its_usual_forms_is_read_as_parse_reads_it(frame: bytes, event_id: int) -> None:
    assert ack_event_id(frame) == event_id
    assert parse(frame) == Ack(event_id)


@pytest.mark.parametrize("frame", LEFT_TO_PARSE)
def test_anything_else_is_left_to_parse(frame: bytes) -> None:
    assert ack_event_id(frame) is None


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.one_of(
    st.binary(max_size=40),
    st.builds(lambda pad, n, tail: pad + b'{"type":"ack","eventId":' + n + b"}" + tail,
              st.sampled_from([b"", b" ", b"\t", b"\x0b", b"\n"]),
              st.from_regex(rb"\A-?[0-9]{1,20}(\.[0-9])?\Z"), st.sampled_from([b"", b" ", b"}"])),
))
def test_whatever_the_fast_path_takes_parse_reads_as_the_same_ack(frame: bytes) -> None:
    event_id = ack_event_id(frame)
    if event_id is not None:
        assert parse(frame) == Ack(event_id)
    else:  # nothing to check but that parse answers, with a message or a ProtocolError
        with contextlib.suppress(ProtocolError):
            parse(frame)


async def test_acks_through_a_socket_prove_delivery_and_get_the_long_ways_errors(
        live: Live) -> None:
    """A master acks his offer in the apps' spelling; an ack above his newest event, and one
    before auth, get the answers they got before this path."""
    api = live.api
    master, client = await api.master(), await api.register("client")
    async with live.socket() as early:
        await early.send('{"type":"ack","eventId":1}')
        assert (await early.recv())["code"] == "not_authenticated"
    async with await live.master_socket(master, acks=True) as ws:
        await api.order(client)
        frame = await ws.recv()
        await ws.send(f'{{"type":"ack","eventId":{frame["eventId"] + 5}}}')
        assert (await ws.recv())["code"] == "invalid_message"  # above his newest event
        await ws.send(f'{{"type":"ack","eventId":{frame["eventId"]}}}')
        await wait_for(lambda: delivered_via(api, frame["assignment"]["id"]), within=5)
        await ws.no_frame(0.3)  # an ack is never answered
    assert await delivered_via(api, frame["assignment"]["id"]) == "socket"
