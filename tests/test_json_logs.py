"""DISPATCHWIRE_LOG_FORMAT=json: a real server taken through a whole flow writes one JSON
object a line, with time, level, logger, message and the ids each line is about; and nothing
in its log, at debug level, is a token, a password or a secret."""

import json
import logging
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from dispatchwire.logs import Ids
from tests.server import ServerProcess

SECRET = "json-logs-secret-" + "z" * 40
PREVIOUS = "json-logs-previous-" + "y" * 40
PASSWORDS = {"client": "client password 1", "master": "master password 2"}


async def full_flow(url: str) -> list[str]:
    """Register, log in (once wrongly), shift, socket, order, offer, accept, job; the tokens."""
    tokens = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        async def call(method: str, path: str, token: str = "", **kw: Any) -> Any:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return (await http.request(method, path, headers=headers, **kw)).json()

        for role, password in PASSWORDS.items():
            data = await call("POST", "/api/auth/register", json={
                "email": f"{role}@example.com", "password": password, "name": role.title(),
                "phone": "+1 555 0100", "role": role, "specializations": []})
            tokens.append(data["token"])
        client, master = tokens
        await call("POST", "/api/auth/login", json={"email": "client@example.com",
                                                     "password": "not " + PASSWORDS["client"]})
        tokens.append((await call("POST", "/api/auth/login", json={
            "email": "master@example.com", "password": PASSWORDS["master"]}))["token"])
        await call("POST", "/api/masters/me/shift/start", master)
        async with connect(url.replace("http", "ws") + "/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": master}))
            await ws.send(json.dumps({"type": "subscribe_assignments"}))
            await ws.recv(), await ws.recv()
            order = await call("POST", "/api/orders", client, json={
                "applianceType": "oven", "problem": "cold", "address": "1 Main St"})
            offer = json.loads(await ws.recv())["assignment"]
            await call("POST", f"/api/assignments/{offer['id']}/accept", master)
            for status in ("in_progress", "completed"):
                await call("POST", f"/api/orders/{order['id']}/status", master,
                           json={"status": status})
        await call("GET", f"/api/orders/{order['id'] + 100}", client)  # refused: 404
        await call("GET", "/api/orders", "forged.token.value")  # refused: 401
    return tokens


async def test_json_lines_with_ids_and_no_secrets(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    server = ServerProcess(database_url=f"sqlite:///{tmp_path / 'dw.db'}", log_path=log_path,
                           env={"DISPATCHWIRE_LOG_FORMAT": "json",
                                "DISPATCHWIRE_LOG_LEVEL": "debug",
                                "DISPATCHWIRE_JWT_SECRET": SECRET,
                                "DISPATCHWIRE_JWT_PREVIOUS_SECRETS": PREVIOUS,
                                "DISPATCHWIRE_ARGON2_TIME_COST": "1",
                                "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024"})
    server.start()
    try:
        tokens = await full_flow(server.url)
    finally:
        server.stop()
    text = log_path.read_text()
    for secret in [SECRET, PREVIOUS, *PASSWORDS.values(), *tokens,
                   *(token.split(".")[2] for token in tokens)]:  # a signature alone, too
        assert secret not in text
    records = [json.loads(line) for line in text.splitlines()]  # every line is one object
    assert len(records) > 20
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert record["time"].endswith("+00:00")
    nodes = {record.get("node") for record in records if record["logger"] != "alembic.runtime"
             ".migration"} - {None}
    assert len(nodes) == 1  # this process's node id, on every line once it is known

    def one(words: str) -> dict[str, Any]:
        [found] = [r for r in records if words in r["message"]]
        return found

    placed = one(" placed by user ")
    assert {"order_id", "user_id", "offer_id", "master_id"} <= placed.keys()
    assert placed["level"] == "INFO" and placed["logger"] == "dispatchwire.orders.service"
    accepted = one(" accepted: order ")
    assert (accepted["offer_id"], accepted["order_id"]) == (placed["offer_id"],
                                                            placed["order_id"])
    socket = one(" authenticated: user #")
    assert isinstance(socket["socket_id"], int) and socket["user_id"] == placed["user_id"] + 1
    missing = one(f"refused GET /api/orders/{placed['order_id'] + 100}")
    assert missing["order_id"] == placed["order_id"] + 100
    assert one("dispatchwire stopped by SIGTERM")["level"] == "INFO"


def test_ids_given_as_extra_win_over_the_message() -> None:
    record = logging.LogRecord("dispatchwire.x", logging.INFO, __file__, 1,
                               "order %s to master %s (admin %s)", (5, 2, 9), None)
    record.order_id = 77
    ids = Ids()
    ids.node = "abc"
    assert ids.filter(record)
    assert (record.order_id, record.master_id, record.user_id, record.node) == (77, 2, 9, "abc")
    assert not hasattr(record, "offer_id")
