"""`dispatchwire settings`: the settings in effect, one `NAME=value` a line, secrets masked."""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from dispatchwire.settings import Settings

__all__ = ["report"]

MASK = "********"
# Any field named so is masked, whatever its type: a secret added later is safe by default.
SECRET_WORDS = ("secret", "password", "private_key", "token", "credentials")


def report(settings: Settings, *, env_file: Path | None) -> str:
    """The effective settings as `DISPATCHWIRE_NAME=value` lines, each default marked."""
    source = f"the environment, then {env_file}, then" if env_file else "the environment, then"
    lines = [f"# dispatchwire settings: from {source} the defaults (secrets masked)"]
    for name in type(settings).model_fields:
        note = "" if name in settings.model_fields_set else "  # default"
        if name == "jwt_secret" and settings.jwt_secret is None:
            note = _generated_secret(settings)
        lines.append(f"DISPATCHWIRE_{name.upper()}={_shown(name, getattr(settings, name))}{note}")
    return "\n".join(lines)


def _shown(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr) or any(word in name for word in SECRET_WORDS):
        return MASK
    if isinstance(value, bool):
        return str(value).lower()
    return _without_password(str(value))


def _without_password(value: str) -> str:
    """A URL with its password masked (a database or Redis URL may hold one)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.password:
        return value
    netloc = f"{parts.username or ''}:{MASK}@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _generated_secret(settings: Settings) -> str:
    path = settings.sqlite_path
    if path is None:
        return "  # unset: required with PostgreSQL"
    return f"  # unset: generated once and kept in {path.with_name(path.name + '.jwt-secret')}"
