"""Who gets an offer: the preferences, the exclusions, declines, and waiting orders."""

from tests.conftest import Api
from tests.dispatch.support import (
    accept,
    events_of,
    move,
    offers_of_order,
    order_ids,
    reject,
    status_of,
)

# --- preferences -------------------------------------------------------------------------------


async def test_specialization_must_match_the_appliance_type(api: Api) -> None:
    fridge = await api.master(specializations=["refrigerator"])  # idle longest, wrong trade
    washer = await api.master(specializations=["dishwasher", "washing_machine"])
    client = await api.register("client")
    order = await api.order(client, "washing_machine")

    assert await order_ids(api, washer) == [order["id"]]
    assert await api.pending(fridge) == []
    oven = await api.order(client, "oven")  # nobody repairs ovens: it waits
    assert await status_of(api, oven, client) == "new"
    assert await offers_of_order(api, oven["id"]) == []


async def test_a_master_without_specializations_takes_any_type(api: Api) -> None:
    washer = await api.master(specializations=["washing_machine"])  # idle longest
    anything = await api.master(specializations=[])
    client = await api.register("client")
    order = await api.order(client, "oven")

    assert await order_ids(api, anything) == [order["id"]]
    assert await api.pending(washer) == []


async def test_a_live_subscribed_master_is_preferred_over_one_idle_longer(api: Api) -> None:
    idle = await api.master()
    live = await api.master()
    assert live.master_id is not None
    api.ctx.presence.subscribe(socket_id=1, user_id=live.id, master_id=live.master_id)
    client = await api.register("client")
    order = await api.order(client)

    assert await order_ids(api, live) == [order["id"]]
    assert await api.pending(idle) == []


async def test_a_live_master_is_preferred_even_over_a_nearer_one(api: Api) -> None:
    near = await api.master(lat=52.5200, lon=13.4050)
    live = await api.master(lat=48.1351, lon=11.5820)  # about 500 km away
    assert live.master_id is not None
    api.ctx.presence.subscribe(socket_id=1, user_id=live.id, master_id=live.master_id)
    client = await api.register("client")
    order = await api.order(client, lat=52.5210, lon=13.4060)

    assert await order_ids(api, live) == [order["id"]]
    assert await api.pending(near) == []


async def test_an_unsubscribed_master_loses_the_preference(api: Api) -> None:
    idle = await api.master()
    gone = await api.master()
    assert gone.master_id is not None
    api.ctx.presence.subscribe(socket_id=1, user_id=gone.id, master_id=gone.master_id)
    api.ctx.presence.unsubscribe(socket_id=1)
    client = await api.register("client")
    order = await api.order(client)

    assert await order_ids(api, idle) == [order["id"]]
    assert await api.pending(gone) == []


async def test_without_live_sockets_the_nearest_master_is_preferred(api: Api) -> None:
    far = await api.master(lat=48.1351, lon=11.5820)  # Munich, idle longest
    near = await api.master(lat=52.5200, lon=13.4050)  # Berlin
    client = await api.register("client")
    order = await api.order(client, lat=52.5160, lon=13.3770)  # Berlin

    assert await order_ids(api, near) == [order["id"]]
    assert await api.pending(far) == []
    profile = await api.call("GET", "/api/masters/me", near)
    assert (profile["lat"], profile["lon"]) == (52.52, 13.405)


async def test_without_coordinates_the_master_idle_longest_gets_the_order(api: Api) -> None:
    first = await api.master()
    second = await api.master()
    third = await api.master()
    client = await api.register("client")
    one, two, three = [await api.order(client) for _ in range(3)]

    assert await order_ids(api, first) == [one["id"]]
    assert await order_ids(api, second) == [two["id"]]
    assert await order_ids(api, third) == [three["id"]]


# --- exclusions --------------------------------------------------------------------------------


async def test_a_master_off_shift_gets_nothing(api: Api) -> None:
    resting = await api.master(on_shift=False)
    ended = await api.master()
    await api.call("POST", "/api/masters/me/shift/end", ended)
    client = await api.register("client")
    order = await api.order(client)

    assert await api.pending(resting) == []
    assert await api.pending(ended) == []
    assert await status_of(api, order, client) == "new"
    assert await offers_of_order(api, order["id"]) == []


async def test_a_master_holding_a_pending_offer_is_skipped(api: Api) -> None:
    busy = await api.master()  # idle longest
    client = await api.register("client")
    first = await api.order(client)
    second = await api.order(client)
    assert await order_ids(api, busy) == [first["id"]]  # one offer at a time
    assert await status_of(api, second, client) == "new"

    other = await api.master()  # the shift start hands the waiting order over
    assert await order_ids(api, other) == [second["id"]]
    third = await api.order(client)
    assert await offers_of_order(api, third["id"]) == []


async def test_a_master_with_an_assigned_or_in_progress_job_is_skipped(api: Api) -> None:
    first = await api.master()
    second = await api.master()
    third = await api.master()
    client = await api.register("client")
    job = await api.order(client)
    [offer] = await api.pending(first)
    await accept(api, first, offer)  # `first` is assigned, and still idle longest

    other = await api.order(client)
    assert await order_ids(api, second) == [other["id"]]
    await move(api, first, job, "in_progress")
    [offer] = await api.pending(second)
    await accept(api, second, offer)

    last = await api.order(client)
    assert await order_ids(api, third) == [last["id"]]
    assert await api.pending(first) == []
    assert await api.pending(second) == []


async def test_a_master_who_declined_is_never_offered_that_order_again(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(master)
    rejected = await reject(api, master, offer)
    assert rejected["assignment"]["status"] == "rejected"

    assert await api.pending(master) == []  # the only master declined: the order waits
    assert await status_of(api, order, client) == "new"
    # Every later chance to dispatch passes the order by for this master.
    await api.call("POST", "/api/masters/me/shift/end", master)
    await api.call("POST", "/api/masters/me/shift/start", master)
    await api.call("PATCH", "/api/masters/me", master, json={"specializations": []})
    assert await api.pending(master) == []
    other = await api.order(client)
    [offer] = await api.pending(master)
    assert offer["orderId"] == other["id"]
    await accept(api, master, offer)
    for status in ("in_progress", "completed"):
        await move(api, master, other, status)
    assert await api.pending(master) == []
    assert await status_of(api, order, client) == "new"
    assert await offers_of_order(api, order["id"]) == [(master.master_id, "rejected")]

    newcomer = await api.master()
    assert await order_ids(api, newcomer) == [order["id"]]


# --- declining ---------------------------------------------------------------------------------


async def test_a_declined_order_moves_to_the_next_master(api: Api) -> None:
    first = await api.master()
    second = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(first)

    await reject(api, first, offer)
    assert await api.pending(first) == []
    [moved] = await api.pending(second)
    assert moved["orderId"] == order["id"]
    assert moved["id"] != offer["id"]
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", first, expect=409)
    await api.call("POST", f"/api/assignments/{offer['id']}/reject", first, expect=409)
    [new_assignment] = [e for e in await events_of(api, second) if e["type"] == "new_assignment"]
    # The poll shows the offer as the event made it, and that the poll delivered it.
    assert moved.pop("deliveredVia") == "poll" and moved.pop("deliveredAt")
    assert new_assignment["assignment"] == moved


async def test_the_decliner_gets_the_next_waiting_order(api: Api) -> None:
    first = await api.master()
    second = await api.master()
    client = await api.register("client")
    one, two, three = [await api.order(client) for _ in range(3)]
    assert await status_of(api, three, client) == "new"  # both masters hold an offer
    [offer_one] = await api.pending(first)
    [offer_two] = await api.pending(second)

    await reject(api, first, offer_one)  # `second` is busy, so `one` waits; `first` takes `three`
    assert await order_ids(api, first) == [three["id"]]
    assert await status_of(api, one, client) == "new"

    await reject(api, second, offer_two)  # `two` waits; `second` takes `one`, the oldest
    assert await order_ids(api, second) == [one["id"]]
    assert await status_of(api, two, client) == "new"


# --- waiting orders ----------------------------------------------------------------------------


async def test_a_waiting_order_is_offered_when_a_shift_starts(api: Api) -> None:
    master = await api.master(on_shift=False)
    client = await api.register("client")
    older = await api.order(client)
    await api.order(client)
    assert await api.pending(master) == []

    shift = await api.call("POST", "/api/masters/me/shift/start", master)
    assert shift == {"onShift": True}
    assert await order_ids(api, master) == [older["id"]]


async def test_a_waiting_order_is_offered_when_a_job_is_completed(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    job = await api.order(client)
    waiting = await api.order(client)
    await accept(api, master, (await api.pending(master))[0])
    await move(api, master, job, "in_progress")
    assert await api.pending(master) == []

    await move(api, master, job, "completed")
    assert await order_ids(api, master) == [waiting["id"]]


async def test_a_waiting_order_is_offered_when_an_assigned_job_is_cancelled(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    job = await api.order(client)
    waiting = await api.order(client)
    await accept(api, master, (await api.pending(master))[0])
    assert await api.pending(master) == []

    await move(api, client, job, "cancelled")
    assert await order_ids(api, master) == [waiting["id"]]


async def test_a_waiting_order_is_offered_when_an_offer_is_declined(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    await api.order(client)
    waiting = await api.order(client)
    [offer] = await api.pending(master)

    await reject(api, master, offer)
    assert await order_ids(api, master) == [waiting["id"]]


async def test_a_waiting_order_is_offered_when_specializations_now_match(api: Api) -> None:
    master = await api.master(specializations=["refrigerator"])
    client = await api.register("client")
    order = await api.order(client, "oven")
    await api.call("PATCH", "/api/masters/me", master, json={"lat": 1.0, "lon": 2.0})
    assert await api.pending(master) == []

    profile = await api.call("PATCH", "/api/masters/me", master,
                             json={"specializations": ["oven", "refrigerator"]})
    assert profile["specializations"] == ["oven", "refrigerator"]
    assert await order_ids(api, master) == [order["id"]]


async def test_clearing_specializations_makes_a_master_take_a_waiting_order(api: Api) -> None:
    master = await api.master(specializations=["refrigerator"])
    client = await api.register("client")
    order = await api.order(client, "dishwasher")
    assert await api.pending(master) == []

    await api.call("PATCH", "/api/masters/me", master, json={"specializations": []})
    assert await order_ids(api, master) == [order["id"]]


async def test_a_master_on_a_job_is_not_idle_until_it_ends_then_takes_the_next_order(
        api: Api) -> None:
    """Dispatch's index skips masters on a job (no `idleSince`) rather than walk past them."""
    client = await api.register("client")
    busy, other = await api.master(), await api.master()
    first = await api.order(client)
    [offer] = await api.pending(busy)  # idle longest
    await accept(api, busy, offer)
    assert (await api.call("GET", "/api/masters/me", busy))["idleSince"] is None
    second = await api.order(client)
    assert await order_ids(api, other) == [second["id"]]
    await accept(api, other, (await api.pending(other))[0])
    waiting = await api.order(client)  # both on a job: it waits
    assert await order_ids(api, busy) == [] and await order_ids(api, other) == []
    await move(api, busy, first, "in_progress")
    await move(api, busy, first, "completed")
    assert (await api.call("GET", "/api/masters/me", busy))["idleSince"] is not None
    assert await order_ids(api, busy) == [waiting["id"]]
