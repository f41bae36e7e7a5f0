"""What a running server logs: each change once it is stored, every refused request, and a line
per HTTP request only when asked for (`--access-log`)."""

import asyncio
import logging
import re
from pathlib import Path

import httpx
import pytest

from dispatchwire.actors import Actor
from dispatchwire.orders.schemas import OrderIn
from dispatchwire.orders.service import create_order
from tests.conftest import make_settings, running_app
from tests.events.test_batches import Boom, add_user
from tests.server import ServerProcess


@pytest.mark.parametrize("access_log", [False, True], ids=["default", "access-log"])
def test_refusals_are_logged_and_requests_only_with_the_access_log(tmp_path: Path,
                                                                   access_log: bool) -> None:
    log_path = tmp_path / "server.log"
    server = ServerProcess(database_url=f"sqlite:///{tmp_path}/db.sqlite", log_path=log_path,
                           args=("--access-log",) if access_log else (),
                           env={"DISPATCHWIRE_JWT_SECRET": "s" * 48})
    server.start()
    try:
        assert httpx.get(server.url + "/health").status_code == 200
        order = {"applianceType": "washing_machine", "problem": "x", "address": "y"}
        assert httpx.post(server.url + "/api/orders", json=order).status_code == 401
        assert httpx.post(server.url + "/api/orders", headers={"Authorization": "Bearer x.y.z"},
                          json=order).status_code == 401  # the fast lane's refusal
        assert httpx.post(server.url + "/api/auth/login", json={}).status_code == 422
        token = {"Authorization": "Bearer x.y.z"}
        assert httpx.get(server.url + "/api/orders/1%0Aforged line",
                         headers=token).status_code == 401
    finally:
        server.stop()
    lines = log_path.read_text().splitlines()
    refused = [line.split(": ", 1)[1] for line in lines if " dispatchwire.refused: " in line]
    assert refused == [
        "refused POST /api/orders: 401 missing bearer token: send Authorization: Bearer <token>",
        "refused POST /api/orders: 401 token is invalid",
        "refused POST /api/auth/login: 422 body.email: Field required; body.password: Field"
        " required",
        "refused GET /api/orders/1forged line: 401 token is invalid",  # no line forged
    ]
    requests = [line for line in lines if "uvicorn.access" in line]
    assert len(requests) == (6 if access_log else 0)  # with start()'s health check
    assert not [line for line in lines if line.startswith("forged line")]


async def test_an_order_is_logged_once_it_is_stored_not_when_its_batch_rolls_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dispatchwire")
    async with running_app(make_settings(f"sqlite:///{tmp_path}/db.sqlite")) as api:
        master = await api.master()
        client = await api.register("client")
        actor = Actor(user_id=client.id, role="client")
        data = OrderIn(appliance_type="washing_machine", problem="x", address="y")
        # The order's first try shares a batch with a failing write, which rolls it back; the
        # service runs it again.
        order, failed = await asyncio.gather(create_order(api.ctx, actor=actor, data=data),
                                             add_user(api.ctx.db, "x", fail=Boom()),
                                             return_exceptions=True)
        await api.call("POST", f"/api/orders/{order.id}/status", client,
                       json={"status": "cancelled"})
    assert isinstance(failed, Boom)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("dispatchwire.")]
    placed = [line for line in lines if " placed by " in line]
    assert len(placed) == 1  # one line tells of the order and its offer
    assert re.fullmatch(rf"order {order.id} placed by user {client.id}: washing_machine; offer"
                        rf" (\d+): order {order.id} to master {master.master_id} until \S+Z",
                        placed[0])
    offer_id = re.findall(r"offer (\d+):", placed[0])[0]
    assert f"order {order.id}: new -> cancelled by user {client.id}; offer {offer_id} to master" \
        f" {master.master_id} withdrawn" in lines
    assert not [line for line in lines if line.startswith("offer ")]  # no line of their own
