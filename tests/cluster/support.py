"""Three `dispatchwire serve` processes on one PostgreSQL and one Redis, and the apps of the
masters, clients and admin that use them: real processes, real sockets, real faults."""

import asyncio
import contextlib
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import TEST_SECRET
from tests.conftest import Person as User  # a user of the API, with a token
from tests.gateway.asyncapi import check_frame
from tests.redis import RedisServer
from tests.server import ServerProcess

__all__ = ["Cluster", "User", "UserApp", "replay"]

PRESENCE_INTERVAL_S = 0.3


class Cluster:
    """N nodes; `alive()` are the ones not killed; REST calls go to a random live node."""

    def __init__(self, *, database_url: str, redis: RedisServer, tmp_path: Path, nodes: int = 3,
                 env: dict[str, str] | None = None) -> None:
        self.redis = redis
        self.env = {"DISPATCHWIRE_BROKER_URL": redis.url, "DISPATCHWIRE_JWT_SECRET": TEST_SECRET,
                    "DISPATCHWIRE_ARGON2_TIME_COST": "1", "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024",
                    "DISPATCHWIRE_PRESENCE_INTERVAL_S": str(PRESENCE_INTERVAL_S),
                    "DISPATCHWIRE_LOG_LEVEL": "info", **(env or {})}
        self.nodes = [ServerProcess(database_url=database_url, env=self.env,
                                    log_path=tmp_path / f"node{i}.log") for i in range(nodes)]
        self.dead: set[int] = set()
        self.http = httpx.AsyncClient(timeout=10)
        self._seq = 0

    async def start(self) -> "Cluster":
        # The first node migrates the database; the others start once it answers.
        await asyncio.to_thread(self.nodes[0].start)
        await asyncio.gather(*(asyncio.to_thread(n.start) for n in self.nodes[1:]))
        return self

    async def stop(self) -> None:
        await self.http.aclose()
        await asyncio.gather(*(asyncio.to_thread(n.stop) for n in self.nodes))

    def kill(self, index: int) -> None:
        self.nodes[index].kill()
        self.dead.add(index)

    def alive(self) -> list[int]:
        return [i for i in range(len(self.nodes)) if i not in self.dead]

    def ws_url(self, index: int) -> str:
        return f"ws://127.0.0.1:{self.nodes[index].port}/ws"

    async def call(self, method: str, path: str, who: User | None = None, *,
                   node: int | None = None, expect: int | None = 200, **kwargs: Any) -> Any:
        """A REST call on `node`, or on a random live one."""
        index = random.choice(self.alive()) if node is None else node
        response = await self.http.request(method, self.nodes[index].url + path,
                                           headers=who.headers if who else None, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.text)
        return response.json() if response.content else None

    async def register(self, role: str, **fields: Any) -> User:
        self._seq += 1
        body = {"email": f"{role}{self._seq}@example.com", "password": "correct horse battery",
                "name": f"{role} {self._seq}", "role": role, **fields}
        data = await self.call("POST", "/api/auth/register", json=body, expect=201)
        return User(data["user"]["id"], body["email"], role, data["token"],
                    data["user"].get("masterId"))

    async def admin(self) -> User:
        """An admin, created by the `create-admin` command against the shared database."""
        email, password = "admin@example.com", "correct horse battery"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dispatchwire", "create-admin", "--email", email,
            "--password", password, env=self.nodes[0].env, stdout=asyncio.subprocess.DEVNULL)
        assert await proc.wait() == 0
        data = await self.call("POST", "/api/auth/login",
                               json={"email": email, "password": password})
        return User(data["user"]["id"], email, "admin", data["token"])

    async def master(self) -> User:
        master = await self.register("master", specializations=[])
        await self.call("POST", "/api/masters/me/shift/start", master)
        return master

    async def order(self, client: User) -> dict[str, Any]:
        body = {"applianceType": "washing_machine", "problem": "leaks", "address": "1 Main St"}
        return await self.call("POST", "/api/orders", client, json=body, expect=201)

    async def stats(self, admin: User, node: int) -> dict[str, Any]:
        return await self.call("GET", "/api/admin/websocket/stats", admin, node=node)


@dataclass
class UserApp:
    """A user's app: one socket (subscribed, for a master), every event kept, back on another
    live node with `lastEventId` whenever its node goes away."""

    cluster: Cluster
    user: User
    node: int
    subscribe: bool = True
    frames: list[dict[str, Any]] = field(default_factory=list)
    reconnects: int = 0
    on_offer: Callable[["UserApp", dict[str, Any]], None] | None = None
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> "UserApp":
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(10):
            await self._ready.wait()
        return self

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def last_event_id(self) -> int:
        return max((f["eventId"] for f in self.frames if "eventId" in f), default=0)

    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if "eventId" in f]

    async def _run(self) -> None:
        resume: int | None = None
        while True:
            with contextlib.suppress(ConnectionClosed, OSError):
                await self._session(resume)
            self.reconnects += 1
            resume = self.last_event_id
            alive = self.cluster.alive()
            self.node = alive[self.reconnects % len(alive)]
            await asyncio.sleep(random.uniform(0, 0.2))  # as a real app: jittered

    async def _session(self, resume: int | None) -> None:
        async with connect(self.cluster.ws_url(self.node), open_timeout=5,
                           ping_interval=None) as conn:
            auth: dict[str, Any] = {"type": "auth", "token": self.user.token}
            if resume is not None:
                auth["lastEventId"] = resume
            await conn.send(json.dumps(auth))
            if self.subscribe:
                await conn.send(json.dumps({"type": "subscribe_assignments"}))
            ready = "subscribed_assignments" if self.subscribe else "auth_success"
            async for raw in conn:
                frame = json.loads(raw)
                check_frame(frame)
                if frame["type"] == ready:
                    self._ready.set()
                if "eventId" in frame:
                    self.frames.append(frame)
                    if frame["type"] == "new_assignment" and self.on_offer:
                        self.on_offer(self, frame["assignment"])


async def replay(cluster: Cluster, user: User, *, quiet_s: float = 0.5) -> list[dict[str, Any]]:
    """Every stored event of `user`, read by a fresh socket resuming after 0."""
    frames: list[dict[str, Any]] = []
    async with connect(cluster.ws_url(cluster.alive()[0]), open_timeout=5) as conn:
        await conn.send(json.dumps({"type": "auth", "token": user.token, "lastEventId": 0}))
        with contextlib.suppress(TimeoutError):
            while True:
                async with asyncio.timeout(quiet_s):
                    frame = json.loads(await conn.recv())
                if "eventId" in frame:
                    frames.append(frame)
    return frames
