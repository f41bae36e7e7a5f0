"""Fuzz the REST API: bad input never crashes the server, never leaks and never corrupts data.

Deterministic: every value comes from `random.Random(SEED)`. Set DISPATCHWIRE_FUZZ_SEED to try
another seed; a failure names the seed and each request that went wrong.

The fuzz keeps a model of the stored orders, built only from successful (2xx) answers: an order
may change only through a request that succeeded, and every successful request must have been
allowed to its caller. Valid moves on the set-up's order are steered away (never a valid cancel
of it, never its holder answering its offer), so it and its offer must come out unchanged; the
orders the fuzz places itself are moved along freely. After the fuzz the stored state must match
the model and obey the contract's invariants, and every user must still be able to log in.
"""

import asyncio
import os
import random
import time
import traceback
from typing import Any

import jwt
import pytest

from tests.conftest import TEST_SECRET, Api
from tests.fuzz.fuzzer import ROUTES, Fuzzer, World
from tests.fuzz.invariants import Judge, stored_problems

pytestmark = pytest.mark.timeout(600)  # thousands of requests

SEED = int(os.environ.get("DISPATCHWIRE_FUZZ_SEED", "20240611"))
REQUESTS_PER_ROUTE = 60
BRAKE_WINDOW_S = 1.0  # the login brake forgets failures this fast here
# routes whose success may make dispatch offer something
OFFERING = ("place", "status", "accept", "reject", "offer", "profile")
PROFILE_FIELDS = ("id", "userId", "name", "email", "phone", "specializations", "onShift", "lat",
                  "lon")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """A login brake that trips during the fuzz (its 429s are fuzzed too) and soon lets go."""
    return {"login_max_failures": 1, "login_failure_window_s": BRAKE_WINDOW_S}


def where(exc: BaseException) -> str:
    """The innermost frame of dispatchwire (or else of anything) in the exception's traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/dispatchwire/" in f.filename] or frames[-1:]
    return "; ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in ours[-3:])


async def set_up(api: Api) -> World:
    """An admin, a client with one order, and two masters on shift, one holding its offer."""
    admin = await api.admin()
    client = await api.register("client", phone="+1 555 0111")
    holder = await api.master()
    order = await api.order(client, lat=52.37, lon=4.89)
    other = await api.master(specializations=["oven", "washing_machine"], lat=52.0, lon=4.0)
    [offer] = await api.pending(holder)
    assert offer["orderId"] == order["id"]
    assert await api.pending(other) == []
    world = World(admin, client, holder, other, order["id"], offer["id"])
    world.orders[order["id"]] = await api.call("GET", f"/api/orders/{order['id']}", client)
    world.offer_ids.add(offer["id"])
    for person in world.people:
        world.logins[person.email] = api.password
        if person.role == "master":
            world.profiles[person.id] = await api.call("GET", "/api/masters/me", person)
    return world


async def fuzz(api: Api, world: World) -> Judge:
    """Send each route REQUESTS_PER_ROUTE requests, in a seeded order, and judge each answer."""
    fuzzer, judge = Fuzzer(api, world, random.Random(SEED)), Judge(world)
    routes = [route for route in ROUTES for _ in range(REQUESTS_PER_ROUTE)]
    fuzzer.rng.shuffle(routes)
    for route in routes:
        request = fuzzer.request(route)
        try:
            response = await fuzzer.send(request)
        except Exception as exc:
            judge.problem(request, f"crashed the app (a 500): {type(exc).__name__}: "
                                   f"{str(exc)[:300]} at {where(exc)}")
            continue
        judge.answer(request, response)
        if response.status_code < 300 and route.name in OFFERING:
            await fuzzer.learn_offers()
    return judge


async def test_bad_input_never_crashes_leaks_or_corrupts(api: Api) -> None:
    started = time.monotonic()
    world = await set_up(api)
    judge = await fuzz(api, world)
    problems = judge.problems

    # Every order is as the last successful answer left it, and nothing else was stored.
    for order_id, order in world.orders.items():
        stored = await api.call("GET", f"/api/orders/{order_id}", world.admin, expect=None)
        if stored != order:
            problems.append(f"order {order_id} is {stored}, expected {order}")
    if not world.touched:  # no valid move on the first order: it and its offer are untouched
        offers = await api.pending(world.holder)
        if [o["id"] for o in offers] != [world.offer_id]:
            problems.append(f"the first offer is gone: the holder has {offers}")
    problems += await stored_problems(api, world)
    # The server's own view: no master holds two pending offers.
    for master in (world.holder, world.other):
        if len(offers := await api.pending(master)) > 1:
            problems.append(f"{master.email} holds {len(offers)} pending offers: {offers}")
        profile = await api.call("GET", "/api/masters/me", master)
        before = world.profiles[master.id]
        if {k: profile[k] for k in PROFILE_FIELDS} != {k: before[k] for k in PROFILE_FIELDS}:
            problems.append(f"profile of {master.email} is {profile}, expected {before}")
    # Everyone can still log in with their password, as who they were (once the brake lets go).
    await asyncio.sleep(BRAKE_WINDOW_S)
    for email, password in world.logins.items():
        response = await api.client.post("/api/auth/login",
                                         json={"email": email, "password": password})
        if response.status_code != 200 or response.json()["user"]["email"] != email:
            problems.append(f"{email} cannot log in: {response.status_code} {response.text}")

    elapsed = time.monotonic() - started
    summary = (f"seed {SEED}: {judge.statuses.total()} requests in {elapsed:.1f} s, "
               f"statuses {dict(sorted(judge.statuses.items()))}, "
               f"moves on the first order: {len(world.touched)}")
    print(summary)
    for name, counts in judge.by_route.items():
        print(f"  {name}: {dict(sorted(counts.items()))}")
    assert not problems, summary + "\n" + "\n".join(problems[:30])
    # The fuzz must reach past validation too, or it proves little.
    assert {200, 201, 401, 403, 404, 409, 422} <= set(judge.statuses), summary


def admin_token(sub: str) -> str:
    """A token the server could have signed, for the user id `sub`, claiming the admin role."""
    now = int(time.time())
    claims = {"sub": sub, "role": "admin", "iat": now, "exp": now + 600}
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


async def test_a_signed_token_naming_no_possible_user_is_401(api: Api) -> None:
    """A token the server could have signed, naming a user id no row can have, is a 401."""
    client = await api.register("client")
    for sub in (str(2**31), str(2**40), str(10**30), "-1", "0", "1.5", "abc", ""):
        token = admin_token(sub)
        try:
            response = await api.client.get("/api/orders",
                                             headers={"Authorization": f"Bearer {token}"})
        except Exception as exc:
            raise AssertionError(f"sub {sub!r}: crashed the app (a 500): "
                                 f"{type(exc).__name__} at {where(exc)}") from None
        assert response.status_code == 401, (sub, response.text)
        assert token not in response.text
    # The role comes from the database, never from the token's claims.
    headers = {"Authorization": f"Bearer {admin_token(str(client.id))}"}
    response = await api.client.get("/api/admin/websocket/stats", headers=headers)
    assert response.status_code == 403, response.text
    assert await api.call("GET", "/api/orders", client) == []
