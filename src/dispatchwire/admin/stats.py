"""Dispatch figures for a time window, computed by the database.

Every figure is an aggregate over the window's rows; percentiles and medians are computed in
SQL too, with window functions both databases have: each group's durations are numbered in
order, and the two values around the wanted rank are interpolated linearly (as PostgreSQL's
`percentile_cont`, which SQLite lacks). Only the aggregates come back to Python.
"""

from datetime import datetime, timedelta
from typing import Any

from dispatchwire.actors import Actor, Role, require_role
from dispatchwire.admin.schemas import DispatchStats, MasterStats, OfferCounts, Percentiles
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.models import EndReason, OfferStatus
from dispatchwire.errors import InvalidInput
from dispatchwire.orders.models import OrderStatus

__all__ = ["DEFAULT_WINDOW", "PLACED_SINCE", "dispatch_stats", "parse_since"]

DEFAULT_WINDOW = timedelta(hours=24)
_ACCEPTED = f"a.status = '{OfferStatus.ACCEPTED}'"
_REJECTED = f"a.status = '{OfferStatus.REJECTED}'"
_EXPIRED = (f"a.status = '{OfferStatus.EXPIRED}'"
            f" AND COALESCE(a.end_reason, '{EndReason.TIMEOUT}') = '{EndReason.TIMEOUT}'")
_UNDELIVERED = f"a.end_reason = '{EndReason.UNDELIVERED}'"
_TAKEN = f"a.end_reason = '{EndReason.TAKEN}'"
_WITHDRAWN = (f"a.status = '{OfferStatus.CANCELLED}'"
              f" AND COALESCE(a.end_reason, '{EndReason.WITHDRAWN}') = '{EndReason.WITHDRAWN}'")
# Orders placed since :since, whatever their status: named, so that the index on (status,
# created_at) serves the window (a range per status) instead of a scan of every order.
PLACED_SINCE = (f"o.status IN ({', '.join(repr(str(status)) for status in OrderStatus)})"
                " AND o.created_at >= :since")


def parse_since(value: str | None, *, now: datetime) -> datetime:
    """The window's start: an ISO 8601 time (UTC when it names no offset), not in the future;
    24 hours ago when not given."""
    if value is None:
        return now - DEFAULT_WINDOW
    try:
        since = datetime.fromisoformat(value.strip())
        since = since.replace(tzinfo=since.tzinfo or now.tzinfo).astimezone(now.tzinfo)
    except (ValueError, OverflowError):
        raise InvalidInput("since: expected an ISO 8601 time such as 2026-01-31T08:00:00Z")\
            from None
    if since > now:
        raise InvalidInput("since: the window cannot start in the future")
    return since


async def dispatch_stats(ctx: Context, *, actor: Actor, since: str | None) -> DispatchStats:
    """Orders placed and offers made since `since`: how fast orders were taken, how offers
    ended, and each master's figures."""
    require_role(actor, Role.ADMIN)
    start = parse_since(since, now=utcnow())
    async with ctx.db.read() as sql:
        params = {"since": sql.time(start)}
        placed, assigned = await sql.first(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM assignments a"
            f" WHERE a.order_id = o.id AND {_ACCEPTED}) THEN 1 ELSE 0 END), 0)"
            f" FROM orders o WHERE {PLACED_SINCE}", params) or (0, 0)
        accept_times = await sql.first(_percentiles(group="0", seconds=sql.seconds_between(
            "a.resolved_at", "o.created_at"), source="assignments a JOIN orders o ON"
            f" o.id = a.order_id WHERE {PLACED_SINCE} AND {_ACCEPTED}"), params)
        offers = await sql.first(f"SELECT {_counts()} FROM assignments a"
                                 " WHERE a.created_at >= :since", params)
        masters = await sql.rows(f"SELECT a.master_id, {_counts()} FROM assignments a"
                                 " WHERE a.created_at >= :since GROUP BY a.master_id"
                                 " ORDER BY a.master_id", params)
        medians = {row[0]: row[1] for row in await sql.rows(_percentiles(
            group="a.master_id", seconds=sql.seconds_between("a.resolved_at", "a.created_at"),
            source=f"assignments a WHERE a.created_at >= :since AND ({_ACCEPTED} OR {_REJECTED})"),
            params)}
    p50, p90, longest = (accept_times or (None, None, None, None))[1:]
    made, accepted, rejected, expired, undelivered, taken, withdrawn = _ints(offers)
    return DispatchStats(
        since=start, orders_placed=placed, orders_assigned=assigned,
        time_to_accept_s=Percentiles(p50=_seconds(p50), p90=_seconds(p90),
                                     max=_seconds(longest)),
        offers=OfferCounts(made=made, accepted=accepted, rejected=rejected, expired=expired,
                           undelivered=undelivered, taken=taken, withdrawn=withdrawn),
        masters=[MasterStats(master_id=row[0], offers=row[1], accepted=row[2],
                             rejected=row[3], expired=row[4], undelivered=row[5],
                             median_answer_s=_seconds(medians.get(row[0])))
                 for row in (_ints(row) for row in masters)])


def _counts() -> str:
    """COUNT and SUM columns over `assignments a`: made, then each way offers end."""
    sums = ", ".join(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)" for condition in (
        _ACCEPTED, _REJECTED, _EXPIRED, _UNDELIVERED, _TAKEN, _WITHDRAWN))
    return f"COUNT(*), {sums}"


def _percentiles(*, group: str, seconds: str, source: str) -> str:
    """Per group: the group, p50, p90 and max of `seconds` over the rows of `source`."""

    def percentile(p: int) -> str:
        # Rank (n - 1) * p / 100, from 0: its whole part and, in hundredths, its fraction.
        low, frac = f"(((n - 1) * {p}) / 100)", f"(((n - 1) * {p}) % 100)"
        high = f"({low} + CASE WHEN {frac} > 0 THEN 1 ELSE 0 END)"
        return (f"SUM(CASE WHEN i = {low} THEN s * (1 - {frac} / 100.0) ELSE 0 END)"
                f" + SUM(CASE WHEN i = {high} THEN s * ({frac} / 100.0) ELSE 0 END)")

    return (f"WITH d AS (SELECT {group} AS g, {seconds} AS s FROM {source}),"
            " r AS (SELECT g, s, ROW_NUMBER() OVER (PARTITION BY g ORDER BY s) - 1 AS i,"
            " COUNT(*) OVER (PARTITION BY g) AS n FROM d)"
            f" SELECT g, {percentile(50)}, {percentile(90)}, MAX(s) FROM r GROUP BY g")


def _ints(row: Any) -> list[int]:
    return [int(value or 0) for value in row] if row else [0] * 7


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)
