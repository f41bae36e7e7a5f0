"""Who is calling, and the role checks every service makes: no imports of the domains, so any
layer may use it."""

from dataclasses import dataclass
from enum import StrEnum

from dispatchwire.errors import Forbidden

__all__ = ["Actor", "Role", "require_master", "require_role"]


class Role(StrEnum):
    CLIENT = "client"
    MASTER = "master"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: every service function is told, and checks the role itself."""

    user_id: int
    role: str
    master_id: int | None = None
    unreachable: bool = False  # a master whose offer ended undelivered, not seen since


def require_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {actor.role}")


def require_master(actor: Actor) -> int:
    """The caller's master id; Forbidden unless the caller is a master."""
    require_role(actor, Role.MASTER)
    if actor.master_id is None:
        raise Forbidden(f"user {actor.user_id} has no master profile")
    return actor.master_id
