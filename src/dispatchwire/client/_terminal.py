"""Keys from the terminal, one at a time, without blocking the event loop."""

import asyncio
import contextlib
import os
import sys
import termios
import tty
from collections.abc import Callable, Iterator

__all__ = ["KEY_DOWN", "KEY_UP", "keys"]

KEY_UP, KEY_DOWN = "up", "down"
_ESCAPES = {"\x1b[A": KEY_UP, "\x1b[B": KEY_DOWN, "\x1bOA": KEY_UP, "\x1bOB": KEY_DOWN}


def _split(text: str) -> list[str]:
    """Key presses in a chunk of input: arrows are escape sequences, the rest one character."""
    found: list[str] = []
    while text:
        for sequence, name in _ESCAPES.items():
            if text.startswith(sequence):
                found.append(name)
                text = text[len(sequence):]
                break
        else:
            found.append(text[0])
            text = text[1:]
    return found


@contextlib.contextmanager
def keys(on_key: Callable[[str], None]) -> Iterator[None]:
    """Call `on_key(key)` for each key pressed while inside, the terminal in cbreak mode (keys
    come at once, unechoed; Ctrl-C still interrupts). Standard input that is not a terminal is
    read as it is; its end stops the reading."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except OSError:  # EIO: the terminal hung up
            data = b""
        if not data:
            loop.remove_reader(fd)
            return
        for key in _split(data.decode(errors="replace")):
            on_key(key)

    if saved is not None:
        tty.setcbreak(fd)
    loop.add_reader(fd, readable)
    try:
        yield
    finally:
        loop.remove_reader(fd)
        if saved is not None:
            with contextlib.suppress(termios.error, OSError):  # a terminal that hung up
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
