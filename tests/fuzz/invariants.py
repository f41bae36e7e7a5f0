"""What the fuzz must never see: in an answer, against its model, or in the database."""

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from dispatchwire.masters.models import Master
from dispatchwire.orders.models import Order
from tests.conftest import Api, Person
from tests.dispatch.support import all_assignments
from tests.fuzz.fuzzer import Request, World
from tests.fuzz.values import ORDER_STATUSES

OFFER_STATUSES = ("pending", "accepted", "rejected", "expired", "cancelled")
ACTIVE_JOB = ("assigned", "in_progress")
MOVES = {("new", "cancelled"), ("assigned", "in_progress"), ("assigned", "cancelled"),
         ("in_progress", "completed")}
# What a server must never send: a password hash, or a Python traceback.
NEVER_SENT = ("$argon2", "passwordHash", "password_hash", "Traceback (most recent call last)")


def sent_object(request: Request) -> dict[str, Any]:
    """The JSON object the request's bytes hold, as the server reads them ({} if none)."""
    try:
        value = json.loads(request.content or b"")
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class Judge:
    """Checks each answer, records the successful ones in the world's model, counts statuses."""

    world: World
    problems: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    by_route: dict[str, Counter[int]] = field(default_factory=dict)

    def problem(self, request: Request, what: str) -> None:
        self.problems.append(f"{what}\n    request: {request.describe()}")

    def answer(self, request: Request, response: httpx.Response) -> None:
        status, text = response.status_code, response.text
        self.statuses[status] += 1
        self.by_route.setdefault(request.route.name, Counter())[status] += 1
        if status >= 500:
            self.problem(request, f"answered {status}: {text[:300]}")
            return
        for secret in request.secrets:
            if secret in text and (status >= 400 or secret.startswith("HUGE")):
                self.problem(request, f"{status} echoes a secret or a huge input: {text[:300]}")
        for never in NEVER_SENT:
            if never in text:
                self.problem(request, f"{status} contains {never!r}: {text[:300]}")
        try:
            data = response.json()
        except ValueError:
            if status >= 400 or 200 <= status < 300:
                self.problem(request, f"{status} is not JSON: {text[:300]}")
            return
        if status >= 400:
            if not isinstance(data, dict) or not data.get("detail"):
                self.problem(request, f"{status} has no detail: {text[:300]}")
        elif 200 <= status < 300:
            try:
                self.success(request, status, data)
            except (KeyError, TypeError, AssertionError) as exc:
                self.problem(request, f"{status} of an unexpected shape ({exc!r}): {text[:300]}")

    def success(self, request: Request, status: int, data: Any) -> None:
        """A 2xx: allowed to this caller, a legal move, and recorded in the model."""
        route, caller, world = request.route, request.caller, self.world
        if route.roles and (caller is None or caller.role not in route.roles):
            self.problem(request, f"{status} to a caller the route is not for: {data}")
            return
        if route.name == "register":
            if data["user"]["role"] not in ("client", "master"):
                self.problem(request, f"registered a {data['user']['role']}")
            world.logins[data["user"]["email"]] = sent_object(request)["password"]
        if caller is None:  # a public route: the rest are for callers with a role
            return
        if route.name == "profile":
            if data["id"] != caller.master_id:
                self.problem(request, f"changed another master's profile: {data}")
            world.profiles[caller.id] = data
        elif route.name == "place":
            if data["clientId"] != caller.id or data["status"] != "new":
                self.problem(request, f"placed a wrong order: {data}")
            world.orders[data["id"]] = data
        elif route.name == "status":
            self.moved(request, data, allowed=caller.role == "admin"
                       or (caller.role == "client" and data["clientId"] == caller.id
                           and data["status"] == "cancelled")
                       or (caller.role == "master" and data["masterId"] == caller.master_id
                           and data["status"] in ("in_progress", "completed")))
        elif route.name == "accept":
            world.offer_ids.add(data["assignment"]["id"])
            if data["assignment"]["masterId"] != caller.master_id \
                    or data["order"]["masterId"] != caller.master_id:
                self.problem(request, f"accepted another master's offer: {data}")
            self.moved(request, data["order"], allowed=True)
        elif route.name in ("reject", "offer"):
            assignment = data if route.name == "offer" else data["assignment"]
            world.offer_ids.add(assignment["id"])
            if route.name == "reject" and assignment["masterId"] != caller.master_id:
                self.problem(request, f"rejected another master's offer: {data}")
            if assignment["orderId"] == world.order_id:
                world.touched.append(request.describe())
        elif route.name == "order":
            self.seen(request, data, caller)

    def moved(self, request: Request, order: dict[str, Any], *, allowed: bool) -> None:
        before = self.world.orders.get(order["id"])
        if before is None:
            self.problem(request, f"moved an order nobody placed: {order}")
        elif not allowed or (before["status"], order["status"]) not in MOVES | {("new",
                                                                               "assigned")}:
            who = request.caller.email if request.caller else "nobody"
            self.problem(request, f"a move the contract forbids: {before['status']} -> "
                                  f"{order['status']} by {who}")
        if order["id"] == self.world.order_id:
            self.world.touched.append(request.describe())
        self.world.orders[order["id"]] = order

    def seen(self, request: Request, order: dict[str, Any], caller: Person) -> None:
        visible = (caller.role == "admin"
                   or (caller.role == "client" and order["clientId"] == caller.id)
                   or (caller.role == "master" and order["masterId"] == caller.master_id))
        if not visible:
            self.problem(request, f"an order shown to someone it is not for: {order}")
        if order != self.world.orders.get(order["id"]):
            self.problem(request, f"order changed without a successful move: {order} "
                                  f"was {self.world.orders.get(order['id'])}")


async def stored_problems(api: Api, world: World) -> list[str]:
    """What in the database breaks the contract's invariants, or the model of the fuzz."""
    async with api.ctx.db.session() as session:
        orders = (await session.execute(select(Order.id, Order.status, Order.master_id))).all()
        on_shift = set(await session.scalars(select(Master.id).where(Master.on_shift)))
    problems: list[str] = []
    pending_by_order: dict[int, list[int]] = {}
    pending_by_master: dict[int, list[int]] = {}
    accepted = set()
    for offer in await all_assignments(api):
        if offer.status not in OFFER_STATUSES:
            problems.append(f"offer {offer.id} has the status {offer.status!r}")
        if offer.status == "pending":
            pending_by_order.setdefault(offer.order_id, []).append(offer.id)
            pending_by_master.setdefault(offer.master_id, []).append(offer.id)
            if offer.master_id not in on_shift:
                problems.append(f"offer {offer.id} is pending for master {offer.master_id}, "
                                "off shift")
        if offer.status == "accepted":
            accepted.add((offer.order_id, offer.master_id))
    problems += [f"order {o} has pending offers {ids}" for o, ids in pending_by_order.items()
                 if len(ids) > 1]
    problems += [f"master {m} has pending offers {ids}" for m, ids in pending_by_master.items()
                 if len(ids) > 1]
    jobs: dict[int, list[int]] = {}
    for order_id, status, master_id in orders:
        if status not in ORDER_STATUSES:
            problems.append(f"order {order_id} has the status {status!r}")
        if status == "new" and master_id is not None:
            problems.append(f"order {order_id} is new but has master {master_id}")
        if status in ("assigned", "in_progress", "completed") \
                and (order_id, master_id) not in accepted:
            problems.append(f"order {order_id} is {status} without an accepted offer")
        if status != "new" and order_id in pending_by_order:
            problems.append(f"order {order_id} is {status} but has a pending offer")
        if status in ACTIVE_JOB:
            jobs.setdefault(master_id, []).append(order_id)
    for master_id, order_ids in jobs.items():
        if len(order_ids) > 1 or master_id in pending_by_master:
            problems.append(f"master {master_id} has jobs {order_ids} and offers "
                            f"{pending_by_master.get(master_id, [])}")
    if sorted(o[0] for o in orders) != sorted(world.orders):
        problems.append(f"stored orders {sorted(o[0] for o in orders)} are not the ones "
                        f"placed successfully: {sorted(world.orders)}")
    return problems
