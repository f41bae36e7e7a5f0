"""The chat of an order over REST, on both databases: who may write and read, when, what a
message must be, idempotent sends, pages, and the `chat_message` events it stores."""

import asyncio
from typing import Any

import pytest

from tests.conftest import Api, Person
from tests.dispatch.support import events_of, on_a_job

MESSAGE_FIELDS = {"id", "orderId", "authorId", "authorRole", "text", "createdAt",
                  "clientMessageId"}


def path(order: dict[str, Any]) -> str:
    return f"/api/orders/{order['id']}/messages"


async def send(api: Api, who: Person, order: dict[str, Any], text: str, expect: int = 201,
               **fields: Any) -> Any:
    return await api.call("POST", path(order), who, expect=expect, json={"text": text, **fields})


async def test_client_master_and_admin_write_and_read_oldest_first(api: Api) -> None:
    master, client, order = await on_a_job(api)
    admin = await api.admin()
    first = await send(api, client, order, "  Hello, when will you come?  ")
    assert set(first) == MESSAGE_FIELDS
    assert (first["orderId"], first["authorId"], first["authorRole"], first["text"],
            first["clientMessageId"]) == (order["id"], client.id, "client",
                                          "Hello, when will you come?", None)
    second = await send(api, master, order, "In 20 minutes", clientMessageId="m-1")
    assert (second["authorId"], second["authorRole"], second["clientMessageId"]) == \
        (master.id, "master", "m-1")  # the master's userId, not his masterId
    third = await send(api, admin, order, "Dispatcher here: noted.")
    assert third["authorRole"] == "admin"
    assert first["id"] < second["id"] < third["id"]
    for reader in (client, master, admin):
        listed = await api.call("GET", path(order), reader)
        assert listed == [first, second, third]


async def test_every_message_is_an_event_for_the_client_and_the_master(api: Api) -> None:
    master, client, order = await on_a_job(api)
    admin = await api.admin()
    before = {who.id: len(await events_of(api, who)) for who in (client, master)}
    sent = [await send(api, client, order, "one"), await send(api, master, order, "two"),
            await send(api, admin, order, "three")]
    for who in (client, master):  # the author included: his other devices follow
        events = (await events_of(api, who))[before[who.id]:]
        assert [e["type"] for e in events] == ["chat_message"] * 3
        assert [e["message"] for e in events] == sent
        ids = [e["eventId"] for e in events]
        assert ids == sorted(ids) and len(set(ids)) == 3
    assert not [e for e in await events_of(api, admin) if e["type"] == "chat_message"]


async def test_a_retried_client_message_id_returns_the_first_message(api: Api) -> None:
    master, client, order = await on_a_job(api)
    first = await send(api, client, order, "Ring twice", clientMessageId="abc")
    again = await send(api, client, order, "Ring twice (retried)", expect=200,
                       clientMessageId="abc")
    assert again == first
    # Another author, or another order, may use the same id: it is the author's own.
    other = await send(api, master, order, "OK", clientMessageId="abc")
    assert other["id"] != first["id"]
    events = [e for e in await events_of(api, client) if e["type"] == "chat_message"]
    assert [e["message"]["id"] for e in events] == [first["id"], other["id"]]  # no second event
    assert len(await api.call("GET", path(order), client)) == 2


async def test_concurrent_retries_make_one_message(api: Api) -> None:
    _master, client, order = await on_a_job(api)
    answers = await asyncio.gather(*(api.client.post(
        path(order), headers=client.headers, json={"text": "hi", "clientMessageId": "same"})
        for _ in range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(await api.call("GET", path(order), client)) == 1


async def test_writing_needs_the_job_on_reading_does_not(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    conflict = await send(api, client, order, "anyone there?", expect=409)
    assert "new" in conflict["detail"] and "assigned or in progress" in conflict["detail"]
    [offer] = await api.pending(master)
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    kept = await send(api, client, order, "assigned", clientMessageId="k")
    await api.call("POST", f"/api/orders/{order['id']}/status", master,
                   json={"status": "in_progress"})
    await send(api, master, order, "in progress")
    await api.call("POST", f"/api/orders/{order['id']}/status", master,
                   json={"status": "completed"})
    for who in (client, master):
        refused = await send(api, who, order, "thanks!", expect=409)
        assert "completed" in refused["detail"]
    # A retry of a message sent while the job was on still finds it.
    assert await send(api, client, order, "assigned", expect=200, clientMessageId="k") == kept
    history = await api.call("GET", path(order), client)
    assert [m["text"] for m in history] == ["assigned", "in progress"]


async def test_a_cancelled_order_takes_no_message(api: Api) -> None:
    _master, client, order = await on_a_job(api)
    await api.call("POST", f"/api/orders/{order['id']}/status", client,
                   json={"status": "cancelled"})
    assert "cancelled" in (await send(api, client, order, "hello?", expect=409))["detail"]


async def test_anyone_who_cannot_see_the_order_gets_404(api: Api) -> None:
    master, client, order = await on_a_job(api)
    other_client = await api.register("client")
    other_master = await api.master()
    await send(api, client, order, "private")
    for stranger in (other_client, other_master):
        refused = await send(api, stranger, order, "hi", expect=404)
        assert refused["detail"] == f"order {order['id']} not found"
        await api.call("GET", path(order), stranger, expect=404)
    missing = {"id": order["id"] + 1000}
    await send(api, client, missing, "hi", expect=404)
    await api.call("GET", path(missing), master, expect=404)
    await api.call("GET", path(order), expect=401)
    await api.call("POST", path(order), expect=401, json={"text": "anonymous"})


@pytest.mark.parametrize("body", [
    {"text": ""}, {"text": "   "}, {"text": "x" * 2001}, {"text": "nul \x00 inside"},
    {}, {"text": 5}, {"text": None}, {"text": ["a"]}, {"text": "ok", "clientMessageId": ""},
    {"text": "ok", "clientMessageId": "x" * 101}, {"text": "ok", "clientMessageId": 7},
    {"text": "ok", "clientMessageId": "nul\x00"},
])
async def test_bad_messages_are_422_naming_the_field(api: Api, body: dict[str, Any]) -> None:
    _master, client, order = await on_a_job(api)
    refused = await api.call("POST", path(order), client, expect=422, json=body)
    assert isinstance(refused["detail"], list)
    named = {item["loc"][-1] for item in refused["detail"]}
    assert named <= {"text", "clientMessageId"} and named
    assert await api.call("GET", path(order), client) == []


async def test_the_longest_message_and_unicode_pass_as_written(api: Api) -> None:
    _master, client, order = await on_a_job(api)
    longest = "ж" * 2000
    assert (await send(api, client, order, longest))["text"] == longest
    emoji = "Буду через 5 минут 🚗 \u202e"
    assert (await send(api, client, order, emoji))["text"] == emoji.strip()


async def test_pages_by_after_and_limit(api: Api) -> None:
    _master, client, order = await on_a_job(api)
    sent = [await send(api, client, order, f"message {n}") for n in range(7)]
    page = await api.call("GET", path(order) + "?limit=3", client)
    assert page == sent[:3]
    page = await api.call("GET", path(order) + f"?after={page[-1]['id']}&limit=3", client)
    assert page == sent[3:6]
    page = await api.call("GET", path(order) + f"?after={page[-1]['id']}&limit=3", client)
    assert page == sent[6:]
    assert await api.call("GET", path(order) + f"?after={sent[-1]['id']}", client) == []
    assert len(await api.call("GET", path(order) + "?limit=100", client)) == 7
    for query in ("limit=101", "limit=0", "after=-1", "limit=x", "after=99999999999"):
        refused = await api.call("GET", f"{path(order)}?{query}", client, expect=422)
        assert refused["detail"]


async def test_the_default_page_is_50(api: Api) -> None:
    _master, client, order = await on_a_job(api)
    for n in range(51):
        await send(api, client, order, f"m{n}")
    assert [m["text"] for m in await api.call("GET", path(order), client)] == \
        [f"m{n}" for n in range(50)]


async def test_a_message_is_a_step_of_the_order_s_timeline(api: Api) -> None:
    master, _client, order = await on_a_job(api)
    message = await send(api, master, order, "on my way")
    admin = await api.admin()
    steps = await api.call("GET", f"/api/admin/orders/{order['id']}/timeline", admin)
    [step] = [s for s in steps if s["kind"] == "message"]
    assert step["detail"] == {"messageId": message["id"], "authorId": master.id,
                              "authorRole": "master"}
    assert steps.index(step) > [s["kind"] for s in steps].index("accepted")
