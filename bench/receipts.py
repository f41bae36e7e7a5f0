"""The delivery receipt, from the server's side: `dispatchwire_offer_delivery_seconds`.

The generator times each offer from its order's POST to the master's `ack` (dispatch.py); the
server times it from the offer's making to the receipt it recorded, in a histogram per `via`.
A step reads the histogram before and after; the difference says how many offers the server
recorded delivered `via: socket` in the step, and under which bucket bound half and 99% of
them fell (the buckets are the server's: 50 ms, 100 ms, 250 ms, ...).
"""

import asyncio
import re

from bench.httppool import HttpPool, request_bytes
from bench.rig import Rig

__all__ = ["bucket_summary", "socket_receipts"]

_BUCKET = re.compile(r'^dispatchwire_offer_delivery_seconds_bucket\{([^}]*)\} (\S+)$', re.M)
_LE = re.compile(r'le="([^"]+)"')
Buckets = dict[float, float]  # upper bound (s) -> cumulative count


def parse_socket_buckets(text: str) -> Buckets:
    buckets: Buckets = {}
    for labels, value in _BUCKET.findall(text):
        bound = _LE.search(labels)
        if 'via="socket"' in labels and bound is not None:
            buckets[float(bound.group(1))] = float(value)
    return buckets


async def socket_receipts(rig: Rig) -> Buckets | None:
    """The server's histogram of socket receipts now, summed over a cluster's nodes (None: not
    dispatchwire, or a node did not answer)."""
    if rig.system != "dispatchwire":
        return None
    total: Buckets = {}
    for pool in rig.pool.pools:
        found = await _node_receipts(pool, rig.client_tokens[0])
        if found is None:
            return None
        for bound, count in found.items():
            total[bound] = total.get(bound, 0.0) + count
    return total


async def _node_receipts(pool: HttpPool, token: str) -> Buckets | None:
    answer: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

    def done(status: int, body: bytes, _written: float, _done: float) -> None:
        if not answer.done():
            answer.set_result((status, body))

    pool.submit(request_bytes("GET", "/metrics", token, b""), done)
    try:
        status, body = await asyncio.wait_for(answer, 60)
    except TimeoutError:
        return None
    return parse_socket_buckets(body.decode()) if status == 200 else None


def _bound(buckets: Buckets, total: float, q: float) -> float | None:
    for bound in sorted(buckets):
        if buckets[bound] >= q * total:
            return None if bound == float("inf") else round(bound * 1000, 1)
    return None


def bucket_summary(before: Buckets | None, after: Buckets | None) -> dict[str, float | None]:
    """Offers recorded delivered via socket between the two reads, and the bucket bounds (ms)
    under which half and 99% of them fell (None above the last finite bucket)."""
    if before is None or after is None:
        return {"count": None, "p50_le_ms": None, "p99_le_ms": None}
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    total = delta.get(float("inf"), 0.0)
    if not total:
        return {"count": 0, "p50_le_ms": None, "p99_le_ms": None}
    return {"count": int(total), "p50_le_ms": _bound(delta, total, 0.5),
            "p99_le_ms": _bound(delta, total, 0.99)}
