"""Random values for the fuzz: strings, JSON values and bodies, broken bytes and bad tokens."""

import base64
import json
import random
import string
from collections.abc import Callable
from typing import Any

ORDER_STATUSES = ("new", "assigned", "in_progress", "completed", "cancelled")
APPLIANCES = ("washing_machine", "refrigerator", "dishwasher", "oven")
FIELDS = ("email", "password", "name", "phone", "role", "specializations", "lat", "lon",
          "applianceType", "problem", "address", "status", "orderId", "masterId")
ASCII = string.ascii_letters + string.digits + "_-.@+ "
SPICE = ("\x00", "\ud800", "\udfff", "\ud83d", "\u0130", "\u200b", "\ufeff", "\u202e",
         "\U0001f600", "e\u0301", "\u4e2d", "\n", "\t", " ", "\\", '"', "'", "<", "%", "\x7f",
         "\x1b", "\uffff")
PLAUSIBLE = ("new", "assigned", "in_progress", "completed", "cancelled", "pending", "client",
             "master", "admin", "oven", "washing_machine", "x@example.com", "+1 555 0100")
BAD_IDS = ("0", "-1", "-0", "+0", "00", "2147483647", "2147483648", "-2147483648",
           "9223372036854775808", str(10**30), "9" * 400, "abc", "1.5", "1e3", "1e308", "NaN",
           "inf", "0x1A", "1_0", "null", "true", "\x00", "%00", "\u0661", "\uff11",
           "\U0001f600", "\ud800", "../1", "1/2", "", " ", "{id}", "1;DROP TABLE orders")
CONTENT_TYPES = ("text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=fuzz", "application/xml", "*/*",
                 "application/json; charset=utf-16", "application/merge-patch+json",
                 "application/", ";;;", "application/octet-stream")


class Values:
    """Makes random values from one `random.Random`, remembering the huge strings it hands out."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.markers: list[str] = []  # the markers of the huge strings handed out
        self._huge = [self._make_huge(filler) for filler in ("x", "\u4e2d", "\x00", "\ud800")]

    def _make_huge(self, filler: str) -> tuple[str, str]:
        """A ~100 KB string that starts with a marker no server message could contain."""
        marker = "HUGE" + "".join(self.rng.choices(string.ascii_letters, k=36))
        size = 100_000 // len(filler.encode("utf-8", "surrogatepass"))
        return marker, marker + filler * size

    def huge(self) -> str:
        marker, text = self.rng.choice(self._huge)
        self.markers.append(marker)
        return text

    def text(self, max_len: int = 24) -> str:
        rng = self.rng
        return "".join(rng.choice(SPICE) if rng.random() < 0.2 else rng.choice(ASCII)
                       for _ in range(rng.randint(0, max_len)))

    def scalar(self) -> Any:
        rng = self.rng
        makers: list[Callable[[], Any]] = [
            lambda: None, lambda: True, lambda: False, lambda: 0, lambda: 1, lambda: -1,
            lambda: 2**31 - 1, lambda: 2**31, lambda: 2**63, lambda: 10**30, lambda: -(10**30),
            lambda: 1e308, lambda: -1e308, lambda: -0.0, lambda: 5e-324, lambda: 0.5,
            lambda: float("nan"), lambda: float("inf"), lambda: rng.uniform(-1e3, 1e3),
            lambda: rng.randint(-(10**6), 10**6), lambda: "", lambda: "   ", self.text,
            self.text, self.huge, lambda: "\x00", lambda: "\ud800", lambda: "a\udfffb",
            lambda: "null", lambda: "1", lambda: "1e308", lambda: rng.choice(PLAUSIBLE),
            lambda: rng.choice(PLAUSIBLE),
        ]
        return rng.choice(makers)()

    def value(self, depth: int = 3) -> Any:
        rng = self.rng
        roll = rng.random()
        if depth <= 0 or roll < 0.5:
            return self.scalar()
        if roll < 0.55:
            return [self.text(8) for _ in range(rng.randint(51, 300))]  # a long list
        if roll < 0.6:
            nested: Any = self.scalar()
            for _ in range(rng.randint(20, 200)):  # deep, but within the JSON parser's reach
                nested = [nested] if rng.random() < 0.5 else {"a": nested}
            return nested
        if roll < 0.8:
            return [self.value(depth - 1) for _ in range(rng.randint(0, 4))]
        return {self.key(): self.value(depth - 1) for _ in range(rng.randint(0, 4))}

    def key(self) -> str:
        return self.rng.choice(FIELDS) if self.rng.random() < 0.5 else self.text(12)

    def password(self) -> str:
        return "pw-" + "".join(self.rng.choices(string.ascii_letters, k=20))

    def mutate(self, body: dict[str, Any]) -> dict[str, Any]:
        body = dict(body)
        roll = self.rng.random()
        if body and roll < 0.85:
            key = self.rng.choice(list(body))
            if roll < 0.7:
                body[key] = self.value(2)
            else:
                del body[key]
        else:
            body[self.key()] = self.value(2)
        return body

    def encode(self, value: Any) -> bytes:
        """JSON text: surrogates as `\\ud800` escapes, or now and then as raw (invalid) UTF-8."""
        if self.rng.random() < 0.7:
            return json.dumps(value).encode()
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")

    def broken(self, good: dict[str, Any]) -> bytes:
        """Bytes that are not the JSON object a route expects."""
        rng = self.rng
        text = json.dumps(good)
        key = rng.choice(list(good) or ["x"])
        makers: list[Callable[[], bytes]] = [
            lambda: text[:rng.randrange(max(len(text), 1))].encode(),
            lambda: bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))),
            lambda: rng.choice([b"", b"null", b"[]", b'"x"', b"{", b"}", b"{,}", b"{'a': 1}",
                                b"\xef\xbb\xbf{}", b"0", b"1e999", b"-", b"\x00"]),
            lambda: f'{{"{key}": {rng.choice(["NaN", "Infinity", "-Infinity"])}}}'.encode(),
            lambda: f'{{"{key}": "\\ud800\\udc00\\udfff\\u0000"}}'.encode(),
            lambda: f'{{"{key}": {"9" * 5000}}}'.encode(),
            lambda: b"[" * 100_000,
            lambda: b'{"a":' * 50_000,
            lambda: text.encode("utf-16"),
            lambda: b"\xef\xbb\xbf" + text.encode(),
            lambda: (text[:-1] + ", " + text[1:]).encode() if len(text) > 2 else b"{}",
            lambda: text.encode().replace(b'"', b'"\xed\xa0\x80', 1),
            lambda: text.encode().replace(b":", b":\x00", 1),
        ]
        return rng.choice(makers)()

    def bad_authorization(self, tokens: list[str]) -> str:
        """An Authorization header that must not pass: made up, tampered with, or misframed."""
        rng = self.rng
        token = rng.choice(tokens)
        head, payload, signature = token.split(".")
        flipped = signature[:-10] + ("A" if signature[-10] != "A" else "B") + signature[-9:]
        none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        other_payload = rng.choice(tokens).split(".")[1]
        makers: list[Callable[[], str]] = [
            lambda: "Bearer " + "".join(rng.choices(string.printable[:94], k=rng.randint(0, 300))),
            lambda: f"Bearer {head}.{payload}.{flipped}",
            lambda: f"Bearer {head}.{payload}",
            lambda: f"Bearer {none_head}.{payload}.",
            lambda: f"Bearer {head}.{other_payload}{'x' if other_payload == payload else ''}"
                    f".{signature}",
            lambda: "Bearer a.b.c", lambda: "Bearer", lambda: "Bearer ",
            lambda: f"Basic {base64.b64encode(b'admin:admin').decode()}",
            lambda: f"Token {token}", lambda: token,
        ]
        return rng.choice(makers)()
