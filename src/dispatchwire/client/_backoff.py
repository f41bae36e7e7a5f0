"""Capped exponential backoff with full jitter."""

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Retry `n` (1, 2, ...) waits a random time between 0 and `min(cap, base * 2**n)`.

    The randomness is the point: when a server restarts, every client loses its socket at the
    same moment, and without jitter they would all come back at the same moments too. The
    first retry is jittered as well (over `[0, 2 * base]`), so a restarted server is not hit by
    all its clients at once. The count starts again after a connection succeeds.
    """

    base: float = 1.0
    cap: float = 60.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={self.base} "
                             f"cap={self.cap}")

    def window(self, attempt: int) -> float:
        """The longest wait before retry `attempt`."""
        return min(self.cap, self.base * 2 ** min(attempt, 60))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A random wait before retry `attempt`, uniform over `[0, window(attempt)]`."""
        return (rng or random).uniform(0, self.window(attempt))
