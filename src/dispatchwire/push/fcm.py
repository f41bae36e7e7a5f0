"""One FCM message over the HTTP v1 API, with a service account's OAuth token."""

import asyncio
import json
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import httpx
import orjson
import requests
from google.oauth2 import service_account

from dispatchwire.errors import ConfigurationError
from dispatchwire.push._http import Answer, failure, post
from dispatchwire.push.metrics import count_sent
from dispatchwire.push.results import Outcome, PushResult, outcome_of_status, retry_after_s

__all__ = ["SCOPE", "FcmSender", "load_credentials"]

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


def load_credentials(path: Path) -> service_account.Credentials:
    """The service account of DISPATCHWIRE_FCM_CREDENTIALS; ConfigurationError when unusable."""
    try:
        info = json.loads(path.read_text())
        credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(
            f"DISPATCHWIRE_FCM_CREDENTIALS ({path}) is not a readable service-account JSON "
            f"file with client_email, private_key and token_uri ({type(exc).__name__})") from exc
    if not credentials.project_id:
        raise ConfigurationError(f"DISPATCHWIRE_FCM_CREDENTIALS ({path}) has no project_id")
    return credentials


class _TimedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport, with our timeout instead of its 120 s."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(requests.Session())
        self._timeout_s = timeout_s

    def __call__(self, url: str, method: str = "GET", body: Any = None,
                 headers: Any = None, timeout: Any = None, **kwargs: Any) -> Any:
        return super().__call__(url, method=method, body=body, headers=headers,
                                timeout=self._timeout_s, **kwargs)


class FcmSender:
    """Sends data messages to Android apps through FCM; the OAuth token is cached until due."""

    kind = "fcm"

    def __init__(self, *, credentials: service_account.Credentials, base_url: str,
                 timeout_s: float, client: httpx.AsyncClient | None = None) -> None:
        self._credentials = credentials
        self._url = f"{base_url.rstrip('/')}/v1/projects/{credentials.project_id}/messages:send"
        self._timeout_s = timeout_s
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False,
                                                   trust_env=False)
        self._request = _TimedRequest(timeout_s)
        self._lock = asyncio.Lock()

    async def send(self, *, token: str, frame_text: str, ttl_s: int, collapse_key: str | None,
                   high_priority: bool = True) -> PushResult:
        """POST one data message (`data.frame` = the frame's JSON text) for an FCM token."""
        try:
            access_token = await self._access_token()
        except (TimeoutError, google.auth.exceptions.GoogleAuthError) as exc:
            return _token_failure(exc)
        android: dict[str, str] = {"priority": "HIGH" if high_priority else "NORMAL",
                                   "ttl": f"{max(0, int(ttl_s))}s"}
        if collapse_key is not None:
            android["collapse_key"] = collapse_key
        message = {"message": {"token": token, "data": {"frame": frame_text},
                               "android": android}}
        headers = {"Authorization": f"Bearer {access_token}",
                   "Content-Type": "application/json; charset=utf-8"}
        try:
            answer = await post(self._client, self._url, content=orjson.dumps(message),
                                headers=headers, timeout_s=self._timeout_s)
        except (TimeoutError, httpx.TransportError) as exc:
            result = failure(exc, timeout_s=self._timeout_s)
        else:
            result = self._result(answer)
        count_sent(self.kind, result.outcome)
        return result

    async def _access_token(self) -> str:
        """The cached token, refreshed (in a thread: google-auth is synchronous) when due."""
        async with self._lock:
            # `valid` turns false a few minutes before the expiry the token endpoint gave.
            if not self._credentials.valid:
                await asyncio.wait_for(
                    asyncio.to_thread(self._credentials.refresh, self._request),
                    self._timeout_s * 2)  # the token, then the push: each gets its timeout
            token: str = self._credentials.token
            return token

    def _result(self, answer: Answer) -> PushResult:
        outcome = outcome_of_status(answer.status)
        code = _error_code(answer.body) if outcome is not Outcome.OK else None
        if outcome is Outcome.GONE and code != "UNREGISTERED":
            # A 404 without UNREGISTERED is a wrong project or URL, not a dead token:
            # deleting every subscription over a misconfiguration would be a disaster.
            outcome = Outcome.ERROR
        if answer.status == 401:  # the token was refused: fetch a new one next time
            self._credentials.token = None
        if outcome is Outcome.OK:
            return PushResult(outcome, answer.status)
        return PushResult(
            outcome, answer.status,
            retry_after_s(answer.headers.get("retry-after")) if outcome is Outcome.RETRY else None,
            f"FCM answered {answer.status}" + (f" {code}" if code else ""))

    async def aclose(self) -> None:
        await self._client.aclose()
        self._request.session.close()


def _error_code(body: bytes) -> str | None:
    """FCM's errorCode (UNREGISTERED, ...) or else the status (NOT_FOUND, ...) of an error."""
    try:
        error = orjson.loads(body)["error"]
        for detail in error.get("details", []):
            if isinstance(detail, dict) and isinstance(detail.get("errorCode"), str):
                return str(detail["errorCode"])[:64]
        status = error.get("status")
        return str(status)[:64] if isinstance(status, str) else None
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None


def _token_failure(exc: Exception) -> PushResult:
    """No token, no push: a timeout or a transient refusal is retried, bad credentials are not."""
    retryable = isinstance(exc, TimeoutError | google.auth.exceptions.TransportError) or bool(
        getattr(exc, "retryable", False))
    return PushResult(Outcome.RETRY if retryable else Outcome.ERROR,
                      detail="the OAuth token endpoint did not give an access token "
                             f"({type(exc).__name__})")
