"""The soak's work: clients placing orders at a steady rate, masters answering their offers.

Each offer is accepted (the job then goes `in_progress` and `completed` a few seconds apart;
meanwhile the master shares his position over his socket and he and the client exchange a chat
message each), declined, or left to expire, at random in the given shares, after a human pause.
Offers that arrive late (a replay after a reconnect) are answered too: a 409 then only says the
offer already ended, and is counted as such. Anything else but a success is an error.
"""

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bench.httppool import HttpPool, request_bytes

__all__ = ["Answers", "Load"]

THINK_S = (0.2, 3.0)  # before answering an offer
JOB_STEP_S = (1.0, 6.0)  # assigned -> in_progress -> completed


@dataclass(frozen=True)
class Answers:
    accept: float = 0.6
    decline: float = 0.25  # the rest is left to expire


class Load:
    """Orders from `client_tokens` at `rate` a second; answers by `master_tokens`."""

    def __init__(self, pool: HttpPool, *, client_tokens: list[str], master_tokens: list[str],
                 rate: float, answers: Answers,
                 locate: Callable[[int, dict[str, Any]], bool] | None = None) -> None:
        """`locate(index, frame)` sends a master's `location` frame (False: not connected)."""
        self.pool, self.rate, self.answers, self.locate = pool, rate, answers, locate
        self.client_tokens, self.master_tokens = client_tokens, master_tokens
        self.counts: Counter[str] = Counter()  # orders, accepted, declined, ignored, ...
        self.statuses: Counter[str] = Counter()  # HTTP answers by request kind and status
        self.order_ids: set[int] = set()
        self.order_clients: dict[int, str] = {}  # order id -> the token of its client
        self._seq = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._placing: asyncio.Task[None] | None = None

    @property
    def errors(self) -> int:
        """Answers that were neither a success nor an expected 409."""
        return sum(n for key, n in self.statuses.items()
                   if not key.endswith((":200", ":201", ":409")))

    def start(self) -> None:
        self._placing = asyncio.create_task(self._place_forever())

    def stop_placing(self) -> None:
        if self._placing is not None:
            self._placing.cancel()

    @property
    def busy(self) -> bool:
        """Answers or jobs still to come, or requests on their way."""
        return bool(self._tasks) or not self.pool.idle

    async def close(self) -> None:
        self.stop_placing()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _place_forever(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            self._seq += 1
            token = self.client_tokens[self._seq % len(self.client_tokens)]
            body = orjson.dumps({"applianceType": "washing_machine", "address": "12 Baker St",
                                 "problem": f"Soak order #{self._seq}"})
            self.pool.submit(request_bytes("POST", "/api/orders", token, body),
                             lambda *answer, token=token: self._placed(token, *answer))
            self.counts["orders"] += 1
            await asyncio.sleep(max(0.0, started + self._seq / self.rate - loop.time()))

    def _placed(self, token: str, status: int, body: bytes, _written: float, _done: float
                ) -> None:
        self.statuses[f"order:{status}"] += 1
        if status == 201:
            order_id = orjson.loads(body)["id"]
            self.order_ids.add(order_id)
            self.order_clients[order_id] = token

    def on_offer(self, index: int, offer: dict[str, Any]) -> None:
        """A master's socket received an offer: answer it, after a pause, or let it run out."""
        draw = random.random()
        if draw < self.answers.accept:
            self._spawn(self._accept(index, offer["id"]))
        elif draw < self.answers.accept + self.answers.decline:
            self._spawn(self._decline(index, offer["id"]))
        else:
            self.counts["ignored"] += 1

    async def _accept(self, index: int, offer_id: int) -> None:
        await asyncio.sleep(random.uniform(*THINK_S))
        status, body = await self._call(index, "accept", "POST",
                                        f"/api/assignments/{offer_id}/accept")
        if status != 200:
            return
        self.counts["accepted"] += 1
        order_id = orjson.loads(body)["order"]["id"]
        for step in ("in_progress", "completed"):
            await asyncio.sleep(random.uniform(*JOB_STEP_S))
            if step == "completed":
                await self._on_the_job(index, order_id)
            status, _ = await self._call(index, step, "POST", f"/api/orders/{order_id}/status",
                                         orjson.dumps({"status": step}))
            if status != 200:
                return
        self.counts["completed"] += 1

    async def _on_the_job(self, index: int, order_id: int) -> None:
        """The master's position, and a word each way in the order's chat."""
        where = {"type": "location", "lat": 51.52 + random.uniform(-0.01, 0.01),
                 "lon": -0.158 + random.uniform(-0.01, 0.01)}
        if self.locate is not None and self.locate(index, where):
            self.counts["locations"] += 1
        path = f"/api/orders/{order_id}/messages"
        said = orjson.dumps({"text": "On my way", "clientMessageId": f"m-{order_id}"})
        status, _ = await self._call(index, "chat", "POST", path, said)
        self.counts["chat"] += status == 201
        client = self.order_clients.get(order_id)
        if client is not None:
            answer = orjson.dumps({"text": "Thank you", "clientMessageId": f"c-{order_id}"})
            status, _ = await self._call(index, "chat", "POST", path, answer, token=client)
            self.counts["chat"] += status == 201

    async def _decline(self, index: int, offer_id: int) -> None:
        await asyncio.sleep(random.uniform(*THINK_S))
        status, _ = await self._call(index, "decline", "POST",
                                     f"/api/assignments/{offer_id}/reject")
        if status == 200:
            self.counts["declined"] += 1

    async def _call(self, index: int, kind: str, method: str, path: str, body: bytes = b"",
                    *, token: str | None = None) -> tuple[int, bytes]:
        answered: asyncio.Future[tuple[int, bytes]] = \
            asyncio.get_running_loop().create_future()

        def done(status: int, data: bytes, _written: float, _done: float) -> None:
            if not answered.done():
                answered.set_result((status, data))

        self.pool.submit(request_bytes(method, path, token or self.master_tokens[index], body),
                         done)
        status, data = await answered
        self.statuses[f"{kind}:{status}"] += 1
        return status, data

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
