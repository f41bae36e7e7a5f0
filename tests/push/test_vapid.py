"""The VAPID key: given in PEM or base64url, else made once beside SQLite, else off."""

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from dispatchwire.errors import ConfigurationError
from dispatchwire.push import VapidKey, resolve_vapid_key
from dispatchwire.push.vapid import b64url, b64url_decode
from dispatchwire.settings import Settings

PG_URL = "postgresql+asyncpg://u:p@db/dispatchwire"


def sqlite(path: Path, **values: object) -> Settings:
    return Settings(database_url=f"sqlite:///{path}", **values)  # type: ignore[arg-type]


def test_the_public_key_is_an_uncompressed_p256_point() -> None:
    point = b64url_decode(VapidKey.generate().public_key)
    assert len(point) == 65 and point[0] == 0x04
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)  # on the curve


def test_a_key_is_made_once_beside_the_sqlite_file_and_kept(tmp_path: Path) -> None:
    db = tmp_path / "data" / "dw.db"
    first = resolve_vapid_key(sqlite(db))
    kept = tmp_path / "data" / "dw.db.vapid-key"
    assert first is not None and kept.is_file()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert kept.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    again = resolve_vapid_key(sqlite(db))  # the next start
    assert again is not None and again.public_key == first.public_key
    assert [p.name for p in kept.parent.iterdir()] == ["dw.db.vapid-key"]  # no draft left


def test_a_given_key_wins_in_pem_and_in_base64url(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    expected = b64url(private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    raw = b64url(private.private_numbers().private_value.to_bytes(32, "big"))
    der = b64url(private.private_bytes(serialization.Encoding.DER,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    padded = base64.urlsafe_b64encode(private.private_numbers().private_value.to_bytes(
        32, "big")).decode()
    for given in (pem, raw, der, padded, pem.replace("\n", "\r\n")):
        key = resolve_vapid_key(sqlite(tmp_path / "dw.db", vapid_private_key=SecretStr(given)))
        assert key is not None and key.public_key == expected
    assert not (tmp_path / "dw.db.vapid-key").exists()


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = VapidKey.generate()
    monkeypatch.setenv("DISPATCHWIRE_VAPID_PRIVATE_KEY", key.private_pem())
    monkeypatch.setenv("DISPATCHWIRE_DATABASE_URL", PG_URL)
    resolved = resolve_vapid_key(Settings())
    assert resolved is not None and resolved.public_key == key.public_key


def test_postgresql_without_a_key_has_web_push_off() -> None:
    assert resolve_vapid_key(Settings(database_url=PG_URL)) is None


@pytest.mark.parametrize("given", [
    "not-a-key", b64url(bytes(range(1, 32))),  # 31 bytes: too short
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    b64url(b"\x00" * 32),  # zero is no private scalar
])
def test_a_bad_key_is_refused_without_echoing_it(given: str) -> None:
    with pytest.raises(ConfigurationError, match="not a P-256 private key") as refused:
        resolve_vapid_key(Settings(database_url=PG_URL, vapid_private_key=SecretStr(given)))
    assert given not in str(refused.value)


def test_a_key_on_another_curve_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    with pytest.raises(ConfigurationError, match="P-256"):
        VapidKey.load(other)


def test_a_broken_kept_key_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "dw.db.vapid-key").write_text("garbage")
    with pytest.raises(ConfigurationError, match=r"dw\.db\.vapid-key"):
        resolve_vapid_key(sqlite(tmp_path / "dw.db"))


def test_the_signature_is_reused_for_an_origin_and_differs_between_origins() -> None:
    key = VapidKey.generate()
    first = key.authorization(audience="https://fcm.googleapis.com", subject="mailto:a@b.c")
    assert first.startswith("vapid t=") and f",k={key.public_key}" in first
    assert key.authorization(audience="https://fcm.googleapis.com",
                             subject="mailto:a@b.c") == first
    assert key.authorization(audience="https://web.push.apple.com",
                             subject="mailto:a@b.c") != first
