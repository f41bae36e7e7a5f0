"""One POST to a push service under a hard deadline, and what a failed one comes to."""

import asyncio
from dataclasses import dataclass

import httpx

from dispatchwire.push.results import Outcome, PushResult

__all__ = ["Answer", "failure", "post"]

MAX_ANSWER_BYTES = 16 * 1024  # an error's JSON is small; nothing more is read


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes


async def post(client: httpx.AsyncClient, url: httpx.URL | str, *, content: bytes,
               headers: dict[str, str], timeout_s: float) -> Answer:
    """POST, reading at most MAX_ANSWER_BYTES of the answer, all within `timeout_s`."""
    # httpx's timeout bounds each phase; a service trickling its answer byte by byte
    # would get several of them. The deadline bounds the whole exchange.
    async with asyncio.timeout(timeout_s):
        async with client.stream("POST", url, content=content, headers=headers) as response:
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= MAX_ANSWER_BYTES:
                    break
            return Answer(response.status_code, response.headers, body[:MAX_ANSWER_BYTES])


def failure(exc: Exception, *, timeout_s: float) -> PushResult:
    """A timeout or a broken connection: worth a retry."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return PushResult(Outcome.RETRY, detail=f"no answer within {timeout_s:g} s")
    return PushResult(Outcome.RETRY, detail=f"connection failed ({type(exc).__name__})")
