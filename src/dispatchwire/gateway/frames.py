"""The frames a socket mostly receives and sends, without websockets' parser and serializer.

A master's app sends an `ack` for every offer: small text frames, one per TCP segment as a
rule. websockets' sans-I/O parser reads each through a chain of generators, a `Frame` object
and its extensions; at 8,000 acks a second that was about a tenth of the gateway's core
(`make bench-profile`, delivery). `small_text_frames` takes the common case only, whole frames
that are final, uncompressed, masked, text and under 126 bytes, from the start of what
arrived, and leaves everything else, from the first other byte on, to websockets. Both agree
on every frame it takes (RFC 6455 5.2), so websockets' parser, waiting at a frame boundary,
never notices: it is handed bytes only while it waits for a frame to begin
(`at_frame_boundary`), and from there on gets what is left.

The other way, every event is a text frame from the server: `text_frame` writes its two to ten
bytes of header (RFC 6455 5.2: final, unmasked, no extension) in a third of a microsecond,
against ~1.7 µs through websockets' `send_text`, its `Frame` and `data_to_send`. It is used only
where websockets would write the same bytes: no extension negotiated (a compressed socket's
frames go through websockets) and no fragmented message under way (the gateway sends none).
"""

from websockets.protocol import Protocol, State
from websockets.streams import StreamReader

try:
    from websockets.speedups import apply_mask  # the C version websockets itself uses
except ImportError:  # pragma: no cover - a websockets built without its extension
    from websockets.utils import apply_mask

__all__ = ["at_frame_boundary", "small_text_frames", "text_frame"]

_FINAL_TEXT = 0x81  # FIN set, RSV1-3 clear (not compressed), opcode 1 (text)
_MASKED = 0x80
_SHORT = 125  # a longer payload's length takes 2 or 8 more bytes
_HEADER = 6  # two bytes, then the four of the mask


def text_frame(payload: bytes) -> bytes:
    """A whole, unmasked text frame from the server, as websockets would write it."""
    size = len(payload)
    if size <= _SHORT:
        return bytes((_FINAL_TEXT, size)) + payload
    if size < 1 << 16:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload


def small_text_frames(data: bytes) -> tuple[list[bytes], int]:
    """The payloads, unmasked, of the small text frames at the start of `data`, and the offset
    of the first byte they do not cover (a larger or other frame, or one not whole yet)."""
    payloads: list[bytes] = []
    at, end = 0, len(data)
    while end - at >= _HEADER and data[at] == _FINAL_TEXT:
        size = data[at + 1]
        if not size & _MASKED or size & 0x7F > _SHORT:
            break
        start = at + _HEADER
        stop = start + (size & 0x7F)
        if stop > end:
            break
        payloads.append(apply_mask(data[start:stop], data[at + 2:start]))
        at = stop
    return payloads, at


_AWAITING_A_FRAME = StreamReader.at_eof.__code__


def at_frame_boundary(ws: Protocol) -> bool:
    """Whether websockets' parser holds no part of a frame: the connection is open, no message
    is half received, and the parser waits for the next frame's first byte (its innermost
    generator rests in `at_eof`; should a later websockets rest elsewhere, this answers False
    and every byte goes to websockets, as before)."""
    if ws.state is not State.OPEN or ws.reader.buffer or ws.current_size is not None:
        return False
    waiting = ws.parser  # the generator the parser is suspended in, innermost
    while (inner := getattr(waiting, "gi_yieldfrom", None)) is not None:
        waiting = inner
    return getattr(waiting, "gi_code", None) is _AWAITING_A_FRAME
