"""Stand-ins for push services: real HTTP servers on ports the OS gives, in the test's loop.

- `WebPushService` plays RFC 8030's push service: it checks the VAPID header (RFC 8292) with
  PyJWT against the server's public key and decrypts the aes128gcm body (RFC 8291) with the
  subscription's private key, by its own code, not the sender's library: a fault shared by
  sender and receiver would otherwise pass unseen.
- `FcmService` plays Google's OAuth token endpoint and FCM's HTTP v1 `messages:send`.
"""

import asyncio
import contextlib
import itertools
import json
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dispatchwire.push import Subscription
from dispatchwire.push.vapid import b64url, b64url_decode

Handler = Callable[[Request], Awaitable[Response]]


@contextlib.asynccontextmanager
async def serving(app: Starlette, tls: "Certificate | None" = None) -> AsyncIterator[int]:
    """Serve `app` under uvicorn on 127.0.0.1, on a port the OS picks; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=2,
                            ssl_certfile=tls and str(tls.cert_path),
                            ssl_keyfile=tls and str(tls.key_path))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Certificate:
    """A self-signed server certificate for `name`, and a client context that trusts it."""

    cert_path: Path
    key_path: Path

    @classmethod
    def make(cls, folder: Path, name: str) -> "Certificate":
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=1))
                .not_valid_after(now + timedelta(hours=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        made = cls(folder / f"{name}.crt", folder / f"{name}.key")
        made.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        made.key_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return made

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_path))


# --- Web Push ---------------------------------------------------------------------------

@dataclass
class Browser:
    """A subscription's secret half, made as a browser makes it (P-256 key pair, 16 bytes)."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public_point(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 section 3.4 and RFC 8188: one aes128gcm record, as a user agent reads it."""
        salt, record_size, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        sender_point = body[21:21 + id_length]
        ciphertext = body[21 + id_length:]
        assert id_length == 65 and len(ciphertext) <= record_size, "not a single record"
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_point)
        shared = self.private_key.exchange(ec.ECDH(), sender)
        key_info = b"WebPush: info\x00" + self.public_point + sender_point
        ikm = _hkdf(shared, salt=self.auth_secret, info=key_info, length=32)
        cek = _hkdf(ikm, salt=salt, info=b"Content-Encoding: aes128gcm\x00", length=16)
        nonce = _hkdf(ikm, salt=salt, info=b"Content-Encoding: nonce\x00", length=12)
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
        data = padded.rstrip(b"\x00")
        assert data.endswith(b"\x02"), "the last record must end with the 0x02 delimiter"
        return data[:-1]


def _hkdf(secret: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt, info).derive(secret)


@dataclass
class Hit:
    """One request the stand-in push service accepted as well-formed."""

    subscription: str
    headers: dict[str, str]
    plaintext: bytes
    claims: dict[str, Any]


@dataclass
class Answer:
    status: int = 201
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class WebPushService:
    """RFC 8030's push service: verifies, decrypts, records, answers as told."""

    def __init__(self, vapid_public_key: str | None) -> None:
        self.vapid_public_key = vapid_public_key
        self.url = ""
        self.hits: list[Hit] = []
        self.refused: list[str] = []  # why a request failed the checks
        self.requests = 0
        self._browsers: dict[str, Browser] = {}
        self._answers: dict[str, Answer] = {}
        self._ids = itertools.count(1)
        self.app = Starlette(routes=[Route("/push/{sid}", self._receive, methods=["POST"])])

    @contextlib.asynccontextmanager
    async def running(self, host: str = "localhost",
                      tls: Certificate | None = None) -> AsyncIterator["WebPushService"]:
        async with serving(self.app, tls) as port:
            self.url = f"{'https' if tls else 'http'}://{host}:{port}"
            yield self

    def subscribe(self, answer: Answer | None = None) -> Subscription:
        """A new subscription at this service, answered with `answer` (201 by default)."""
        sid = f"s{next(self._ids)}"
        browser = self._browsers[sid] = Browser()
        self._answers[sid] = answer or Answer()
        return Subscription(kind="webpush", endpoint=f"{self.url}/push/{sid}",
                            p256dh=b64url(browser.public_point),
                            auth=b64url(browser.auth_secret))

    async def _receive(self, request: Request) -> Response:
        self.requests += 1
        sid = request.path_params["sid"]
        body = await request.body()
        try:
            claims = self._check_vapid(request)
            if request.headers.get("content-encoding") != "aes128gcm":
                raise ValueError("Content-Encoding is not aes128gcm")
            plaintext = self._browsers[sid].decrypt(body)
        except Exception as exc:
            self.refused.append(f"{type(exc).__name__}: {exc}")
            return Response(status_code=400)
        self.hits.append(Hit(sid, dict(request.headers), plaintext, claims))
        answer = self._answers[sid]
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        return Response(status_code=answer.status, headers=answer.headers)

    def _check_vapid(self, request: Request) -> dict[str, Any]:
        """RFC 8292: `vapid t=<JWT>,k=<key>`, signed ES256 by the server's key, for us."""
        scheme, _, params = request.headers["authorization"].partition(" ")
        fields = dict(part.split("=", 1) for part in params.split(","))
        assert scheme == "vapid", scheme
        assert fields["k"] == self.vapid_public_key, "k is not the server's public key"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                              b64url_decode(fields["k"]))
        origin = f"{request.url.scheme}://{request.headers['host']}"
        claims: dict[str, Any] = jwt.decode(fields["t"], public, algorithms=["ES256"],
                                            audience=origin,
                                            options={"require": ["aud", "exp", "sub"]})
        assert claims["exp"] <= time.time() + 24 * 3600, "exp more than 24 h ahead"
        assert claims["sub"].startswith(("mailto:", "https://")), claims["sub"]
        return claims


class RedirectTarget:
    """Where a redirecting push service points: it must never be reached."""

    def __init__(self) -> None:
        self.requests = 0
        self.url = ""
        self.app = Starlette(routes=[Route("/{path:path}", self._hit, methods=["GET", "POST"])])

    async def _hit(self, _request: Request) -> Response:
        self.requests += 1
        return Response(status_code=201)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["RedirectTarget"]:
        async with serving(self.app) as port:
            self.url = f"http://127.0.0.1:{port}"
            yield self


# --- FCM --------------------------------------------------------------------------------

PROJECT = "dispatchwire-test"
# google-auth names Google's token endpoint as the assertion's audience whatever the token_uri.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLIENT_EMAIL = "push@dispatchwire-test.iam.gserviceaccount.com"


def write_service_account(folder: Path, token_uri: str) -> tuple[Path, rsa.RSAPublicKey]:
    """A service-account JSON with a fresh RSA key, as Google's console hands one out."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = folder / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": PROJECT, "private_key_id": "k1",
        "private_key": pem, "client_email": CLIENT_EMAIL, "client_id": "1",
        "token_uri": token_uri,
    }))
    return path, key.public_key()


@dataclass
class FcmMessage:
    token: str
    data: dict[str, Any]
    android: dict[str, Any]


class FcmService:
    """The OAuth token endpoint and FCM's messages:send, checking what a sender gives them."""

    def __init__(self, *, token_lifetime_s: int = 3600) -> None:
        self.token_lifetime_s = token_lifetime_s
        self.public_key: rsa.RSAPublicKey | None = None
        self.url = ""
        self.token_requests = 0
        self.sends = 0
        self.messages: list[FcmMessage] = []
        self.refused: list[str] = []
        self.answers: list[tuple[int, dict[str, Any], dict[str, str]]] = []  # consumed in turn
        self._tokens: set[str] = set()
        self.app = Starlette(routes=[
            Route("/token", self._token, methods=["POST"]),
            Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
        ])

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["FcmService"]:
        async with serving(self.app) as port:
            self.url = f"http://127.0.0.1:{port}"
            yield self

    def revoke_tokens(self) -> None:
        self._tokens.clear()

    async def _token(self, request: Request) -> Response:
        """RFC 7523: a JWT assertion signed by the service account's key buys a token."""
        self.token_requests += 1
        form = parse_qs((await request.body()).decode())
        try:
            assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
            claims = jwt.decode(form["assertion"][0], self.public_key, algorithms=["RS256"],
                                audience=GOOGLE_TOKEN_AUDIENCE,
                                options={"require": ["iss", "aud", "exp", "iat"]})
            assert claims["iss"] == CLIENT_EMAIL, claims["iss"]
            assert "https://www.googleapis.com/auth/firebase.messaging" in \
                claims["scope"].split(), claims["scope"]
        except Exception as exc:
            self.refused.append(f"token: {type(exc).__name__}: {exc}")
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        token = f"ya29.test-{self.token_requests}"
        self._tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": self.token_lifetime_s,
                             "token_type": "Bearer"})

    async def _send(self, request: Request) -> Response:
        self.sends += 1
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self._tokens:
            return JSONResponse({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, 401)
        try:
            message = self._checked(request.path_params["project"], await request.json())
        except Exception as exc:
            self.refused.append(f"send: {type(exc).__name__}: {exc}")
            return JSONResponse({"error": {"code": 400, "status": "INVALID_ARGUMENT"}}, 400)
        self.messages.append(message)
        if self.answers:
            status, body, headers = self.answers.pop(0)
            return JSONResponse(body, status_code=status, headers=headers)
        return JSONResponse({"name": f"projects/{PROJECT}/messages/{self.sends}"})

    @staticmethod
    def _checked(project: str, body: dict[str, Any]) -> FcmMessage:
        """FCM v1's rules for a data message."""
        assert project == PROJECT, project
        message = body["message"]
        data, android = message["data"], message["android"]
        assert all(isinstance(v, str) for v in data.values()), "data values must be strings"
        assert android["priority"] in ("HIGH", "NORMAL"), android["priority"]
        assert android["ttl"].endswith("s") and android["ttl"][:-1].isdigit(), android["ttl"]
        return FcmMessage(message["token"], data, android)


def unregistered() -> dict[str, Any]:
    """FCM's answer for a token whose app instance is gone."""
    return {"error": {"code": 404, "message": "Requested entity was not found.",
                      "status": "NOT_FOUND", "details": [{
                          "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                          "errorCode": "UNREGISTERED"}]}}
