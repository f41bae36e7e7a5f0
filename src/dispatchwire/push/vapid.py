"""The server's VAPID key pair (RFC 8292): loaded from the settings, or kept beside SQLite."""

import base64
import binascii
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02, VapidException

from dispatchwire.errors import ConfigurationError
from dispatchwire.settings import Settings

__all__ = ["VapidKey", "b64url", "b64url_decode", "resolve_vapid_key"]

TOKEN_LIFETIME_S = 12 * 3600  # RFC 8292 allows at most 24 h; some services refuse the edge
TOKEN_REUSE_S = 3600  # one signature per push service origin an hour, not one per push


def b64url(data: bytes) -> str:
    """Unpadded base64url, as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; ValueError on anything else."""
    text = text.strip()
    if not text or not text.replace("-", "").replace("_", "").rstrip("=").isalnum():
        raise ValueError("expected base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("expected base64url text") from exc


class VapidKey:
    """A P-256 private key that signs the `Authorization: vapid t=...,k=...` header."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ConfigurationError("the VAPID key must be a P-256 (prime256v1) EC key")
        self._vapid = Vapid02(private_key)
        self._signed: dict[tuple[str, str], tuple[str, float]] = {}

    @classmethod
    def generate(cls) -> "VapidKey":
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load(cls, text: str, *, source: str = "DISPATCHWIRE_VAPID_PRIVATE_KEY") -> "VapidKey":
        """A key in PEM, or base64url of the raw 32-byte scalar (or of its DER)."""
        try:
            if "-----BEGIN" in text:
                key = serialization.load_pem_private_key(text.strip().encode(), password=None)
            else:
                raw = b64url_decode(text)
                key = (ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
                       if len(raw) == 32 else serialization.load_der_private_key(raw, None))
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"{source} is not a P-256 private key: give it in PEM or as base64url of the "
                "raw 32-byte key") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigurationError(f"{source} is not an EC key")
        return cls(key)

    @property
    def public_key(self) -> str:
        """base64url of the uncompressed point (65 bytes, 0x04 first): `applicationServerKey`."""
        point = self._vapid.public_key.public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
        return b64url(point)

    def private_pem(self) -> str:
        return self._vapid.private_pem().decode("ascii")

    def authorization(self, *, audience: str, subject: str) -> str:
        """The `Authorization` header for a push service whose origin is `audience`."""
        now = time.time()
        cached = self._signed.get((audience, subject))
        if cached is not None and cached[1] > now:
            return cached[0]
        claims = {"aud": audience, "sub": subject, "exp": int(now) + TOKEN_LIFETIME_S}
        try:
            header: str = self._vapid.sign(claims)["Authorization"]
        except VapidException as exc:  # an origin py_vapid cannot name (an IPv6 literal)
            raise ValueError(f"cannot sign a VAPID token for {audience}") from exc
        self._signed[(audience, subject)] = (header, now + TOKEN_REUSE_S)
        return header


def resolve_vapid_key(settings: Settings) -> VapidKey | None:
    """The key: given, else kept beside the SQLite file (made once), else None (Web Push off)."""
    if settings.vapid_private_key is not None:
        return VapidKey.load(settings.vapid_private_key.get_secret_value())
    path = settings.sqlite_path
    if path is None:  # PostgreSQL: every node must sign with the same, given key
        return None
    return _kept_key(path.with_name(path.name + ".vapid-key"))


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _kept_key(path: Path) -> VapidKey:
    """Read the key kept in `path`, creating it (mode 0600, PEM) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(draft, "w", opener=_private_opener) as f:
            f.write(VapidKey.generate().private_pem())
        # Linking a complete file into place is atomic: two processes starting at once
        # never read a half-written key, and the second one uses the first one's.
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return VapidKey.load(path.read_text(), source=str(path))
