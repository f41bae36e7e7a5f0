"""The fuzz's requests: the routes, the world they act on, and the Fuzzer that makes them."""

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import Api, Person
from tests.fuzz.values import APPLIANCES, BAD_IDS, CONTENT_TYPES, ORDER_STATUSES, Values


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # "{id}" stands for the path id
    roles: tuple[str, ...]  # the roles the contract lets call it; () is public
    has_body: bool


ROUTES = (
    Route("register", "POST", "/api/auth/register", (), True),
    Route("login", "POST", "/api/auth/login", (), True),
    Route("profile", "PATCH", "/api/masters/me", ("master",), True),
    Route("place", "POST", "/api/orders", ("client", "admin"), True),
    Route("status", "POST", "/api/orders/{id}/status", ("client", "master", "admin"), True),
    Route("accept", "POST", "/api/assignments/{id}/accept", ("master",), False),
    Route("reject", "POST", "/api/assignments/{id}/reject", ("master",), False),
    Route("offer", "POST", "/api/admin/assignments", ("admin",), True),
    Route("order", "GET", "/api/orders/{id}", ("client", "master", "admin"), False),
)


@dataclass
class Request:
    route: Route
    path: str
    caller: Person | None  # who the Authorization header proves to be, if anyone
    headers: dict[str, str]
    content: bytes | None
    secrets: list[str]  # what no error may echo: the password, the token, huge strings

    def describe(self) -> str:
        who = self.caller.email if self.caller else self.headers.get("Authorization", "nobody")
        content = self.content if self.content is None else self.content[:240]
        return (f"{self.route.method} {self.path!r} as {who[:60]!r} "
                f"content-type={self.headers.get('Content-Type')!r} content={content!r}")


@dataclass
class World:
    """The people and ids that exist, and the model of what is stored."""

    admin: Person
    client: Person
    holder: Person  # the master holding the first order's offer
    other: Person  # a second master on shift, free
    order_id: int
    offer_id: int
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)  # as last answered
    profiles: dict[int, dict[str, Any]] = field(default_factory=dict)  # masters, by user id
    logins: dict[str, str] = field(default_factory=dict)  # email -> password
    offer_ids: set[int] = field(default_factory=set)
    touched: list[str] = field(default_factory=list)  # successful moves on the first order

    @property
    def people(self) -> list[Person]:
        return [self.admin, self.client, self.holder, self.other]

    def real_ids(self) -> list[int]:
        people = [p.id for p in self.people] + [p.master_id or 0 for p in self.people]
        return sorted({*self.orders, *self.offer_ids, *people, *range(1, 9)} - {0})


def int_alias(value: Any) -> int | None:
    """The integer a lax parser could read `value` as (an over-estimate), if any."""
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value.strip())
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


class Fuzzer:
    """Makes requests, mostly wrong, to the routes, as the world's people or as nobody."""

    def __init__(self, api: Api, world: World, rng: random.Random) -> None:
        self.api = api
        self.world = world
        self.rng = rng
        self.values = Values(rng)
        self._registered = 0

    def request(self, route: Route) -> Request:
        rng, world, values = self.rng, self.world, self.values
        values.markers = []
        secrets: list[str] = []
        caller, headers = self.caller(route)
        path_id = self.path_id(route) if "{id}" in route.path else None
        # every byte escaped, dots too: the client would resolve `.` and `..` segments
        escaped = quote(path_id or "", safe="", errors="surrogatepass").replace(".", "%2E")
        path = route.path.replace("{id}", escaped)
        if route.name in ("accept", "reject") and caller is world.holder \
                and int_alias(path_id) == world.offer_id:
            caller, headers = world.other, world.other.headers  # keep the first offer open
        if len(authorization := headers.get("Authorization", "")) >= 16:
            secrets.append(authorization.partition(" ")[2] or authorization)
        body: Any = None
        content: bytes | None = None
        if route.has_body or rng.random() < 0.2:
            good = self.valid_body(route)
            self.spare_first_order(route, path_id, good)
            if isinstance(good.get("password"), str):
                secrets.append(good["password"])
            roll = rng.random()
            if roll < 0.25:
                body = good
            elif roll < 0.55:
                body = values.mutate(good)
            elif roll < 0.75:
                body = values.value(4)
            elif roll < 0.875:
                content = values.broken(good)
                headers = {**headers, "Content-Type": "application/json"}
            else:
                body = values.mutate(good) if rng.random() < 0.5 else good
                headers = {**headers, "Content-Type": rng.choice(CONTENT_TYPES)}
            if isinstance(body, dict):
                self.spare_first_order(route, path_id, body)
                password = body.get("password")
                if isinstance(password, str) and len(password.strip()) >= 8:
                    secrets.append(password)
            if content is None:
                content = values.encode(body)
                headers = {"Content-Type": "application/json", **headers}
            if rng.random() < 0.05:
                headers.pop("Content-Type", None)
        secrets += values.markers
        return Request(route, path, caller, headers, content, secrets)

    def caller(self, route: Route) -> tuple[Person | None, dict[str, str]]:
        rng, people = self.rng, self.world.people
        roll = rng.random()
        if not route.roles:
            if roll < 0.85:
                return None, {}
            person = rng.choice(people)
            return None, person.headers  # a token on a public route means nothing
        right = [p for p in people if p.role in route.roles]
        wrong = [p for p in people if p.role not in route.roles] or people
        if roll < 0.65:
            person = rng.choice(right)
            return person, person.headers
        if roll < 0.83:
            person = rng.choice(wrong)
            return person, person.headers
        if roll < 0.91:
            return None, {}
        return None, {"Authorization": self.values.bad_authorization([p.token for p in people])}

    def path_id(self, route: Route) -> str:
        rng, world = self.rng, self.world
        roll = rng.random()
        if roll < 0.4:  # an id of the right kind: mostly a valid request, if the caller's
            ids = world.orders if route.name in ("status", "order") else world.offer_ids
            return str(rng.choice(sorted(ids)))
        if roll < 0.6:
            return str(rng.choice(world.real_ids()))
        if roll < 0.88:
            return rng.choice(BAD_IDS)
        if roll < 0.93:
            return str(rng.randint(-(2**70), 2**70))
        return self.values.text(12)

    def valid_body(self, route: Route) -> dict[str, Any]:
        rng, world = self.rng, self.world
        if route.name == "register":
            self._registered += 1
            known = rng.choice(list(world.logins))
            email = (known.upper() if rng.random() < 0.5 else f" {known} ") \
                if rng.random() < 0.1 else f"fuzz{self._registered}@example.com"
            return {"email": email, "password": self.values.password(),
                    "name": f"Fuzz {rng.random()}", "phone": "+1 555 0100",
                    "role": rng.choice(["client", "master"]),
                    "specializations": rng.sample(APPLIANCES, rng.randint(0, 2))}
        if route.name == "login":
            email, password = rng.choice(list(world.logins.items()))
            return {"email": email, "password": password if rng.random() < 0.5
                    else self.values.password()}
        if route.name == "profile":
            body: dict[str, Any] = {}
            if rng.random() < 0.7:
                body["specializations"] = rng.sample(APPLIANCES, rng.randint(0, 3))
            if rng.random() < 0.7:
                body.update(lat=rng.uniform(-90, 90), lon=rng.uniform(-180, 180))
            return body
        if route.name == "place":
            return {"applianceType": rng.choice(APPLIANCES), "problem": "fuzz: does not work",
                    "address": "1 Fuzz St", "lat": rng.uniform(-90, 90),
                    "lon": rng.uniform(-180, 180)}
        if route.name == "status":
            return {"status": rng.choice(ORDER_STATUSES)}
        if route.name == "offer":
            others = [i for i in world.orders if i != world.order_id] or [2**31 - 1]
            masters = [world.holder.master_id, world.other.master_id]
            return {"orderId": rng.choice(others), "masterId": rng.choice(masters)}
        return {}

    def spare_first_order(self, route: Route, path_id: str | None, body: dict[str, Any]) -> None:
        """Keep the valid moves off the first order, so that it must come out unchanged."""
        world = self.world
        if route.name == "status" and int_alias(path_id) == world.order_id \
                and body.get("status") == "cancelled":
            body["status"] = "assigned"
        if route.name == "offer" and int_alias(body.get("orderId")) == world.order_id:
            body["orderId"] = 2**31 - 1

    async def send(self, request: Request) -> httpx.Response:
        return await self.api.client.request(request.route.method, request.path,
                                             headers=request.headers, content=request.content)

    async def learn_offers(self) -> None:
        """Learn the ids of the offers dispatch has made, so the fuzz can answer them."""
        for master in (self.world.holder, self.world.other):
            self.world.offer_ids |= {offer["id"] for offer in await self.api.pending(master)}
