"""An order's timeline: every step, written in the transaction of the change it records.

A step recorded with `record` is kept with its unit of work and inserted just before the
commit, all of a transaction's steps in one statement: a transaction that rolls back leaves no
step behind, and one that commits leaves each of its steps. Steps that record something a
transaction did not change (a frame written to a socket: `sent`) are inserted in batches with
`insert_sent`. Read back oldest first; steps of one instant in the order they were recorded,
and those kept in other rows where a row of their own would have been (below).

Four steps are kept in the rows they record, since each cost a row on the hottest paths (an
order, an offer, a frame) and says nothing its carrier does not (migration 0008): `placed` is
the order's own row (its time, client and appliance type), `offered` its offer's row (made at
its `created_at`, with `why`), `expired` the same row once the offer has ended (`resolved_at`,
`end_reason`), and a `sent` whose offer is recorded delivered in the same transaction rides in
that `delivered` step's detail (`sent_into`). Each is written in the transaction of what it
records as much as a row of its own would be. `read_steps` gives them back as steps, where a
row would have put them in their instant: `placed` first; an `expired` after the stored steps
(a cancel's or an accept's `status` ends the offers after it), then an `escalated` (the
expiries and refusals it counts come first), then an `offered` (an offer is the last thing a
transaction does to an order); a `sent` at its own time, never before its offer's. Orders and
offers stored before 0008 kept rows for them, read as they are.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from dispatchwire.clock import at_epoch_ms
from dispatchwire.orders.models import StepKind
from dispatchwire.store import Sql, UnitOfWork

__all__ = ["SentFrame", "Step", "insert_sent", "insert_steps", "read_steps", "record",
           "record_message", "sent_into"]


class Step(NamedTuple):
    """A step to record; `detail` holds no None (what is unknown is left out)."""

    order_id: int
    kind: StepKind
    at: datetime
    assignment_id: int | None = None
    master_id: int | None = None
    detail: Mapping[str, Any] | None = None


# An offer's frame written to a socket, kept by the gateway until a batch of them is stored as
# `sent` steps: order id, offer id, master id, socket id, and when (ms since the epoch). A plain
# tuple: the gateway makes one for every frame.
SentFrame = tuple[int, int, int | None, int, int]

_INSERT = ("INSERT INTO order_steps (order_id, at, kind, assignment_id, master_id, detail)"
           " VALUES (:order_id, :at, :kind, :assignment_id, :master_id, :detail)")


def record(uow: UnitOfWork, order_id: int, kind: StepKind, *, at: datetime,
           assignment_id: int | None = None, master_id: int | None = None,
           detail: Mapping[str, Any] | None = None) -> None:
    """Add a step to `order_id`'s timeline with `uow`'s transaction."""
    uow.attached(_Pending, _Pending.hook_into).steps.append(
        Step(order_id, kind, at, assignment_id, master_id, detail))


def record_message(uow: UnitOfWork, *, order_id: int, message_id: int, author_id: int,
                   author_role: str, at: datetime) -> None:
    """A chat message on the order (for the chat's service to call in its transaction)."""
    record(uow, order_id, StepKind.MESSAGE, at=at, detail={
        "messageId": message_id, "authorId": author_id, "authorRole": author_role})


async def insert_steps(sql: Sql, steps: Sequence[Step]) -> None:
    """Insert steps now, in the caller's transaction, in the order given."""
    if not steps:
        return
    # The kind is bound as plain text: sqlite3 binds a str subclass (a StrEnum) by a slower
    # path, ~0.4 µs a parameter.
    times = {at: sql.time(at) for at in {step.at for step in steps}}
    await sql.insert_rows(_INSERT, [
        (step.order_id, times[step.at], step.kind.value, step.assignment_id, step.master_id,
         sql.json(step.detail) if step.detail else "{}")
        for step in steps])


async def insert_sent(sql: Sql, frames: Sequence[SentFrame]) -> None:
    """Insert a `sent` step for each frame, in the caller's transaction, in the order given.

    Thousands a second at the gateway's peak: each millisecond's time is written out once, and
    the detail (`{"socket": id}`, as `sql.json` writes it) made without a dict."""
    if not frames:
        return
    times = {ms: sql.time(at_epoch_ms(ms)) for ms in {frame[4] for frame in frames}}
    kind = StepKind.SENT.value
    await sql.insert_rows(_INSERT, [
        (order_id, times[ms], kind, offer_id, master_id, f'{{"socket":{socket}}}')
        for order_id, offer_id, master_id, socket, ms in frames])


def sent_into(detail: dict[str, Any], frame: SentFrame) -> dict[str, Any]:
    """`detail` of a `delivered` step carrying its offer's `sent` step (`frame`)."""
    detail["sent"] = {"at": frame[4], "socket": frame[3]}
    return detail


async def read_steps(sql: Sql, order_id: int) -> list[dict[str, Any]] | None:
    """The order's steps, oldest first: `{at, kind, assignmentId?, masterId?, detail}`; None
    if there is no such order."""
    params = {"order_id": order_id}
    placed = await sql.first("SELECT created_at, client_id, appliance_type FROM orders"
                             " WHERE id = :order_id", params)
    if placed is None:
        return None
    rows = await sql.rows("SELECT at, kind, assignment_id, master_id, detail FROM order_steps"
                          " WHERE order_id = :order_id ORDER BY at, id", params)
    offers = await sql.rows("SELECT id, master_id, created_at, why, resolved_at, end_reason"
                            " FROM assignments WHERE order_id = :order_id ORDER BY id", params)
    made = {row[0]: sql.read_time(row[2]) for row in offers if row[3] is not None}
    ended = {row[2] for row in rows if row[1] == StepKind.EXPIRED}  # stored before 0008
    steps: list[tuple[dict[str, Any], int]] = []  # with where each goes in its instant
    if not any(row[1] == StepKind.PLACED for row in rows):
        steps.append(({"at": sql.read_time(placed[0]), "kind": StepKind.PLACED.value,
                       "detail": {"by": placed[1], "applianceType": placed[2]}}, _PLACED))
    for at, kind, assignment_id, master_id, detail in rows:
        step = _step(sql.read_time(at), kind, assignment_id, master_id, sql.read_json(detail))
        if (sent := step["detail"].pop("sent", None)) is not None:
            steps.append(_sent({**step, "at": at_epoch_ms(sent["at"]), "detail": {
                "socket": sent["socket"]}}, made))
        if kind == StepKind.SENT:
            steps.append(_sent(step, made))
        else:
            steps.append((step, _ESCALATED if kind == StepKind.ESCALATED else _STORED))
    for offer_id, master_id, _, why, resolved_at, reason in offers:
        if offer_id in made:
            steps.append((_step(made[offer_id], StepKind.OFFERED.value, offer_id, master_id,
                                sql.read_json(why)), _OFFERED))
        if reason is not None and offer_id not in ended:
            steps.append((_step(sql.read_time(resolved_at), StepKind.EXPIRED.value, offer_id,
                                master_id, {"reason": reason}), _EXPIRED))
    steps.sort(key=lambda each: (each[0]["at"], each[1]))  # stable: ties keep their order
    return [step for step, _ in steps]


# Where a step goes among those of its instant (`read_steps`).
_PLACED, _STORED, _EXPIRED, _ESCALATED, _OFFERED, _SENT_AT_ITS_OFFER = range(6)


def _sent(step: dict[str, Any], made: Mapping[int, datetime]) -> tuple[dict[str, Any], int]:
    """A `sent` step, never before its offer: a frame's time is cut to the millisecond, and
    one written within the millisecond its offer was made would read as sent before it."""
    step["kind"] = StepKind.SENT.value
    offered = made.get(step.get("assignmentId", 0))
    if offered is not None and step["at"] <= offered:
        step["at"] = offered
        return step, _SENT_AT_ITS_OFFER
    return step, _STORED


def _step(at: datetime, kind: str, assignment_id: int | None, master_id: int | None,
          detail: dict[str, Any] | None) -> dict[str, Any]:
    step: dict[str, Any] = {"at": at, "kind": kind}
    if assignment_id is not None:
        step["assignmentId"] = assignment_id
    if master_id is not None:
        step["masterId"] = master_id
    step["detail"] = detail or {}
    return step


class _Pending:
    """The steps of one transaction, inserted just before it commits."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: list[Step] = []

    @classmethod
    def hook_into(cls, uow: UnitOfWork) -> "_Pending":
        pending = cls()
        uow.before_commit(pending.insert)
        return pending

    async def insert(self, uow: UnitOfWork) -> None:
        await insert_steps(uow.sql, self.steps)
