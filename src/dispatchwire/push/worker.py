"""The push worker: pushes undelivered offers when due, and sends every push job, durably.

Two kinds of durable work, both claimed in the database so that several processes share them
and a process that dies loses none:

- an offer whose `push_due_at` has come while it is still undelivered is claimed once (its
  timer cleared in the claiming update) and becomes a push job per device of its master;
- a job that is due is claimed for a lease (`claimed_until`), sent, and its result recorded:
  `ok` done; `gone` (404/410) deletes the device; `retry` (429, 5xx, a timeout) comes back
  after 1 s (or the service's shorter Retry-After), then 2 s, 4 s, ... until `ends_at` (for an
  offer, its deadline; a delivered or ended offer stops its retries at once); `error` done,
  noted on the device. A process that dies with jobs claimed leaves them to the others once
  the lease runs out.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.orders import timeline
from dispatchwire.orders.models import StepKind
from dispatchwire.push.jobs import JobKind, Push, enqueue
from dispatchwire.push.results import Outcome, PushResult
from dispatchwire.push.sender import Subscription
from dispatchwire.push.webpush import MAX_PAYLOAD_BYTES
from dispatchwire.store import Sql, retry_transient
from dispatchwire.store.sql import Row, int_list

__all__ = ["push_due_offers", "run_push_loop", "send_due_jobs"]

log = logging.getLogger(__name__)

POLL_S = 0.25  # how often the worker looks for due work
BATCH = 50  # jobs sent at a time
LEASE_MARGIN_S = 10.0  # a claimed job is left to others this long after its send's timeout
TRIMMED = "…"


async def run_push_loop(ctx: Context) -> None:
    """Run until cancelled; errors are logged and retried, never fatal."""
    failing = False
    while True:
        try:
            await push_due_offers(ctx)
            while await send_due_jobs(ctx) == BATCH:
                pass
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not failing:  # one line per outage, not one per poll
                log.warning("push worker: %s; retrying every %s s", exc, POLL_S, exc_info=True)
            failing = True
        await asyncio.sleep(POLL_S)


@retry_transient
async def push_due_offers(ctx: Context, *, now: datetime | None = None) -> int:
    """Claim the undelivered offers whose push is due; a job per device of each master."""
    now = now or utcnow()
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        ids = [row[0] for row in await sql.rows(
            "SELECT id FROM assignments WHERE push_due_at <= :now ORDER BY push_due_at"
            f" LIMIT 100{_skip_locked(sql)}", {"now": sql.time(now)})]
        if not ids:
            return 0
        claimed = await sql.rows(
            "UPDATE assignments SET push_due_at = NULL, pushed_at = CASE WHEN EXISTS"
            " (SELECT 1 FROM push_subscriptions s JOIN masters m ON m.user_id = s.user_id"
            " WHERE m.id = assignments.master_id) THEN :now ELSE pushed_at END"
            f" WHERE id IN ({int_list(ids)}) AND push_due_at IS NOT NULL"
            " RETURNING id, order_id, expires_at, event_id,"
            " (SELECT user_id FROM masters WHERE masters.id = assignments.master_id)",
            {"now": sql.time(now)})
        pushed = [row for row in claimed if row[3] is not None]
        for offer_id, order_id, expires_at, event_id, user_id in pushed:
            deadline = sql.read_time(expires_at)
            frame = await _stored_frame(sql, user_id=user_id, event_id=event_id)
            await enqueue(sql, Push(
                user_id, JobKind.OFFER, frame, _whole_seconds(deadline - now), "high",
                f"assignment-{offer_id}", deadline, offer_id, order_id), now=now)
    return len(claimed)


@retry_transient
async def send_due_jobs(ctx: Context) -> int:
    """Claim due push jobs, send them, record how each went. Returns how many were claimed."""
    now = utcnow()
    lease = now + timedelta(seconds=ctx.settings.push_timeout_s + LEASE_MARGIN_S)
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        ids = [row[0] for row in await sql.rows(
            "SELECT id FROM push_jobs WHERE due_at <= :now AND (claimed_until IS NULL"
            f" OR claimed_until <= :now) ORDER BY due_at LIMIT {BATCH}{_skip_locked(sql)}",
            {"now": sql.time(now)})]
        if not ids:
            return 0
        jobs = await sql.rows(
            "UPDATE push_jobs SET claimed_until = :lease, attempts = attempts + 1"
            f" WHERE id IN ({int_list(ids)}) RETURNING id, subscription_id, kind, frame, ttl_s,"
            " urgency, topic, ends_at, attempts, order_id, assignment_id, (SELECT master_id"
            " FROM assignments WHERE assignments.id = push_jobs.assignment_id)",
            {"lease": sql.time(lease)})
        devices = {row[0]: row[1:] for row in await sql.rows(
            "SELECT id, kind, address, p256dh, auth FROM push_subscriptions"
            f" WHERE id IN ({int_list({job[1] for job in jobs})})")}
        ends = {job[0]: sql.read_time(job[7]) for job in jobs}
    # One device's pushes of one topic go in order (a later status must not land first);
    # everything else at once.
    queues: dict[tuple[int, str], list[Row]] = {}
    for job in sorted(jobs):
        queues.setdefault((job[1], job[6]), []).append(job)
    results: dict[int, PushResult] = {}

    async def send_in_order(queue: list[Row]) -> None:
        for job in queue:
            results[job[0]] = await _send(ctx, job, devices.get(job[1]), ends[job[0]])

    await asyncio.gather(*(send_in_order(queue) for queue in queues.values()))
    kinds = {job[0]: device[0] if (device := devices.get(job[1])) else None for job in jobs}
    await _record(ctx, jobs, [results[job[0]] for job in jobs], ends, kinds)
    return len(jobs)


async def _send(ctx: Context, job: Row, device: Sequence[Any] | None, ends_at: datetime
                ) -> PushResult:
    _id, _sub, kind, frame, ttl_s, urgency, topic, _ends, _attempts = job[:9]
    if device is None:
        return PushResult(Outcome.GONE, detail="the device was removed")
    if kind == JobKind.OFFER:  # the time the offer has left, when sent (retries send less)
        ttl_s = _whole_seconds(ends_at - utcnow())
    device_kind, address, p256dh, auth = device
    target = Subscription(kind=device_kind, endpoint=address if device_kind == "webpush" else None,
                          token=address if device_kind == "fcm" else None, p256dh=p256dh,
                          auth=auth)
    return await ctx.pusher.send(target, frame, ttl_s=ttl_s, urgency=urgency, topic=topic)


@retry_transient
async def _record(ctx: Context, jobs: Sequence[Row], results: Sequence[PushResult],
                  ends: dict[int, datetime], kinds: dict[int, str | None]) -> None:
    now = utcnow()
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        for job, result in zip(jobs, results, strict=True):
            job_id, subscription_id, attempts = job[0], job[1], job[8]
            log.info("push job %s (%s) to subscription %s: %s %s", job_id, job[2],
                     subscription_id, result.outcome, result.detail)
            if (order_id := job[9]) is not None:
                detail = {"result": result.outcome, "push": job[2]}
                if (device_kind := kinds[job_id]) is not None:  # None: the device is gone
                    detail["kind"] = device_kind
                timeline.record(uow, order_id, StepKind.PUSHED, at=now, assignment_id=job[10],
                                master_id=job[11], detail=detail)
            if result.outcome is Outcome.GONE:
                await sql.rows("DELETE FROM push_subscriptions WHERE id = :id",
                               {"id": subscription_id})
                continue
            due = None
            if result.outcome is Outcome.RETRY:
                delay = float(2 ** (attempts - 1))  # 1 s, then doubling
                if result.retry_after_s is not None:
                    delay = min(delay, result.retry_after_s)
                due = now + timedelta(seconds=delay)
                if due >= ends[job_id]:
                    due = None  # it would come too late: give up
            # A job stopped meanwhile (its offer delivered or ended) stays stopped.
            await sql.rows(
                "UPDATE push_jobs SET due_at = :due, claimed_until = NULL, result = :result"
                " WHERE id = :id AND due_at IS NOT NULL",
                {"due": sql.time(due) if due else None, "result": result.outcome, "id": job_id})
            if result.outcome is Outcome.OK:
                await sql.rows("UPDATE push_subscriptions SET last_success_at = :now,"
                               " last_error = NULL WHERE id = :id",
                               {"now": sql.time(now), "id": subscription_id})
            elif result.outcome is Outcome.ERROR or due is None:
                await sql.rows("UPDATE push_subscriptions SET last_error = :error WHERE id = :id",
                               {"error": (result.detail or result.outcome)[:200],
                                "id": subscription_id})


async def _stored_frame(sql: Sql, *, user_id: int, event_id: int) -> str:
    """The frame of a stored event, as the socket sends it, made to fit in one push."""
    row = await sql.first("SELECT type, payload FROM events WHERE user_id = :user_id"
                          " AND event_id = :event_id", {"user_id": user_id, "event_id": event_id})
    if row is None:  # deleted by retention: nothing to show but that an offer came
        raise LookupError(f"event {event_id} of user {user_id} is gone")
    return fitted({"type": row[0], "eventId": event_id, **sql.read_json(row[1])})


def fitted(frame: dict[str, Any]) -> str:
    """`frame`'s JSON, its offer's free text shortened (with "…") if the whole would not fit
    in one push (a Web Push record holds 3,993 bytes; a problem of 2,000 Cyrillic letters is
    4,000); everything else as the socket sends it."""
    text = orjson.dumps(frame).decode()
    offer = frame.get("assignment")
    if len(text.encode()) <= MAX_PAYLOAD_BYTES or not isinstance(offer, dict):
        return text
    for field in ("problem", "address"):
        excess = len(text.encode()) - MAX_PAYLOAD_BYTES
        value: str = offer[field]
        keep = max(0, len(value.encode()) - excess - len(TRIMMED.encode()) - 8)
        offer = {**offer, field: value.encode()[:keep].decode(errors="ignore") + TRIMMED}
        text = orjson.dumps({**frame, "assignment": offer}).decode()
        if len(text.encode()) <= MAX_PAYLOAD_BYTES:
            break
    return text


def _whole_seconds(left: timedelta) -> int:
    return max(0, int(left.total_seconds()))


def _skip_locked(sql: Sql) -> str:
    """Rows another process is claiming are left to it (PostgreSQL)."""
    return " FOR UPDATE SKIP LOCKED" if sql.locks_rows else ""
