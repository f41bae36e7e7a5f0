"""Rotating the JWT secret without logging anyone out: tokens signed with a secret listed in
DISPATCHWIRE_JWT_PREVIOUS_SECRETS are accepted until they expire, new ones are signed with the
current secret; and the README's procedure, on two real processes sharing one PostgreSQL."""

import asyncio
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect

from dispatchwire.auth.security import Tokens
from dispatchwire.errors import Unauthorized
from tests.pg import PostgresServer
from tests.server import ServerProcess

OLD = "old-secret-" + "o" * 40
NEW = "new-secret-" + "n" * 40


def test_new_tokens_are_signed_with_the_current_secret_and_old_ones_still_pass() -> None:
    before = Tokens(secret=OLD, ttl_s=60)
    old_token = before.issue(user_id=7, role="client")
    during = Tokens(secret=NEW, ttl_s=60, previous_secrets=[OLD])
    new_token = during.issue(user_id=8, role="master")
    assert jwt.decode(new_token, NEW, algorithms=["HS256"])["sub"] == "8"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(new_token, OLD, algorithms=["HS256"])
    assert during.user_id(old_token) == 7 and during.user_id(new_token) == 8
    with pytest.raises(Unauthorized, match="invalid"):
        before.user_id(new_token)  # a node that knows only the old secret
    after = Tokens(secret=NEW, ttl_s=60)  # the old secret dropped
    with pytest.raises(Unauthorized, match="invalid"):
        after.user_id(old_token)
    stranger = Tokens(secret="some-other-secret-" + "x" * 40, ttl_s=60).issue(user_id=9,
                                                                             role="admin")
    with pytest.raises(Unauthorized, match="invalid"):
        during.user_id(stranger)


def test_a_token_of_a_previous_secret_still_expires() -> None:
    expired = jwt.encode({"sub": "7", "role": "client", "exp": int(time.time()) - 5}, OLD,
                         algorithm="HS256")
    with pytest.raises(Unauthorized, match="expired"):
        Tokens(secret=NEW, ttl_s=60, previous_secrets=[OLD]).user_id(expired)


class Node:
    """One `dispatchwire serve` on a fixed port, restarted with other secrets."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.database_url, self.log = database_url, log
        self.process: ServerProcess | None = None
        self.port: int | None = None

    def run(self, secret: str, previous: str = "") -> "Node":
        if self.process is not None:
            self.process.stop()
        self.process = ServerProcess(database_url=self.database_url, port=self.port,
                                     log_path=self.log, env={
                                         "DISPATCHWIRE_JWT_SECRET": secret,
                                         "DISPATCHWIRE_JWT_PREVIOUS_SECRETS": previous,
                                         "DISPATCHWIRE_ARGON2_TIME_COST": "1",
                                         "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024"})
        self.port = self.process.start().port
        return self

    def me(self, token: str) -> int:
        return httpx.get(f"http://127.0.0.1:{self.port}/api/auth/me", timeout=10,
                         headers={"Authorization": f"Bearer {token}"}).status_code

    def register(self) -> str:
        response = httpx.post(f"http://127.0.0.1:{self.port}/api/auth/register", timeout=10,
                              json={"email": "rot@example.com", "password": "rotation test",
                                    "name": "Rot", "role": "client"})
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def login(self) -> str:
        response = httpx.post(f"http://127.0.0.1:{self.port}/api/auth/login", timeout=10,
                              json={"email": "rot@example.com", "password": "rotation test"})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    async def socket_accepts(self, token: str) -> bool:
        async with connect(f"ws://127.0.0.1:{self.port}/ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            return bool(json.loads(await ws.recv())["type"] == "auth_success")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


async def test_the_readme_procedure_on_two_processes(pg_server: PostgresServer, pg_template: str,
                                                     tmp_path: Path) -> None:
    pg_server.sql(f"CREATE DATABASE rotation TEMPLATE {pg_template}")
    url = pg_server.url("rotation")
    a, b = Node(url, tmp_path / "a.log"), Node(url, tmp_path / "b.log")
    try:
        await asyncio.to_thread(a.run, OLD)
        await asyncio.to_thread(b.run, OLD)
        old_token = await asyncio.to_thread(a.register)

        # 1. Every node learns the new secret as a previous one, still signing with the old.
        await asyncio.to_thread(a.run, OLD, NEW)
        await asyncio.to_thread(b.run, OLD, NEW)
        assert b.me(a.login()) == 200
        # 2. Every node signs with the new secret and keeps the old one as a previous one;
        #    halfway through, tokens of either node pass on both.
        await asyncio.to_thread(a.run, NEW, OLD)
        new_token = a.login()
        assert jwt.decode(new_token, NEW, algorithms=["HS256"])["sub"]
        assert [a.me(old_token), a.me(new_token), b.me(old_token), b.me(new_token)] == [200] * 4
        assert await b.socket_accepts(new_token) and await a.socket_accepts(old_token)
        await asyncio.to_thread(b.run, NEW, OLD)
        assert [b.me(old_token), b.me(new_token)] == [200, 200]
        # 3. Once the old tokens have expired, the old secret goes.
        await asyncio.to_thread(b.run, NEW)
        assert [b.me(old_token), b.me(new_token)] == [401, 200]
        assert not await b.socket_accepts(old_token)
    finally:
        await asyncio.to_thread(a.stop)
        await asyncio.to_thread(b.stop)
    for log in (tmp_path / "a.log", tmp_path / "b.log"):
        text = log.read_text()
        assert OLD not in text and NEW not in text and old_token not in text
