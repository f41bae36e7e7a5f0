"""Pushes are durable work: a node killed before an offer's push is due loses no push, and of
the nodes left exactly one sends it."""

import asyncio
import json

import pytest

from dispatchwire.push.vapid import VapidKey
from tests.cluster.support import Cluster
from tests.conftest import wait_for
from tests.push.support import WebPushService

KEY = VapidKey.generate()


@pytest.fixture
def cluster_env() -> dict[str, str]:
    return {"DISPATCHWIRE_VAPID_PRIVATE_KEY": KEY.private_pem(),
            "DISPATCHWIRE_PUSH_ALLOWED_HOSTS": "localhost", "DISPATCHWIRE_PUSH_AFTER_S": "2",
            "DISPATCHWIRE_UNDELIVERED_TIMEOUT_S": "120"}


async def test_the_node_that_made_an_offer_dies_and_one_survivor_pushes_it_once(
        cluster: Cluster) -> None:
    async with WebPushService(KEY.public_key).running() as service:
        master = await cluster.master()  # no socket: his phone is asleep
        client = await cluster.register("client")
        device = service.subscribe()
        await cluster.call("POST", "/api/push/subscriptions", master, expect=201, json={
            "kind": "webpush", "endpoint": device.endpoint,
            "keys": {"p256dh": device.p256dh, "auth": device.auth}})
        order = await cluster.call("POST", "/api/orders", client, node=0, expect=201, json={
            "applianceType": "washing_machine", "problem": "leaks", "address": "1 Main St"})
        cluster.kill(0)  # before the push is due (2 s)

        async def pushed() -> bool:
            return bool(service.hits)

        await wait_for(pushed, within=15)
        await asyncio.sleep(3.0)  # a second push, by the other survivor, would be here by now
    [hit] = service.hits
    frame = json.loads(hit.plaintext)
    assert frame["type"] == "new_assignment"
    assert frame["assignment"]["orderId"] == order["id"]
    assert service.refused == []
