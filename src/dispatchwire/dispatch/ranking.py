"""Who of the eligible masters gets an offer first: pure ranking, no I/O (eligibility is
`eligibility.py`)."""

import math
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

__all__ = ["Candidate", "distance_km", "rank_masters", "reasons"]


class Candidate(Protocol):
    """What ranking reads of a master: a `Master`, or a row of those columns."""

    @property
    def id(self) -> int: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lon(self) -> float | None: ...
    @property
    def idle_since(self) -> datetime | None: ...


C = TypeVar("C", bound=Candidate)

EARTH_RADIUS_KM = 6371.0
_NEVER = datetime.min.replace(tzinfo=UTC)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def rank_masters(masters: Iterable[C], *, lat: float | None, lon: float | None,
                 live: AbstractSet[int]) -> list[C]:
    """Best first: a live subscribed socket, then nearest (both located), then idle longest."""

    def key(master: C) -> tuple[bool, float, datetime, int]:
        located = None not in (lat, lon, master.lat, master.lon)
        distance = distance_km(lat, lon, master.lat, master.lon) if located else math.inf  # type: ignore[arg-type]
        return (master.id not in live, distance, master.idle_since or _NEVER, master.id)

    return sorted(masters, key=key)


def reasons(master: Candidate, *, lat: float | None, lon: float | None, live: AbstractSet[int],
            idle_since: str | None, how: str, rank: int | None) -> dict[str, Any]:
    """Why `master` was chosen, as an offer's timeline shows it: how (`ranked` among the
    eligible, `free`: he became free and the order is the oldest he may take), his rank, and
    the ranking's reasons: a live socket, the distance in km, since when he is idle (as the
    wire writes times)."""
    why: dict[str, Any] = {"how": how, "live": master.id in live}
    if rank is not None:
        why["rank"] = rank
    if lat is not None and lon is not None and master.lat is not None \
            and master.lon is not None:
        why["distanceKm"] = round(distance_km(lat, lon, master.lat, master.lon), 3)
    if idle_since is not None:
        why["idleSince"] = idle_since
    return why
