"""The `dispatchwire` command: `serve` and `create-admin`."""

import argparse
import asyncio
import getpass
import logging
import sys
from typing import Any

from pydantic import ValidationError

from dispatchwire.errors import ConfigurationError, Conflict
from dispatchwire.settings import Settings

__all__ = ["main"]

# `serve` options that override DISPATCHWIRE_* variables.
SERVE_OPTIONS: dict[str, type] = {
    "host": str, "port": int, "database_url": str, "broker_url": str,
    "assignment_timeout_s": float, "subscription_stale_s": float, "log_level": str,
}


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k in SERVE_OPTIONS and v is not None}
    if getattr(args, "demo", False):
        overrides["demo"] = True
    try:
        settings = Settings(**overrides)
        settings.resolve_jwt_secret()  # fail before anything starts
        args.handler(settings, args)
    except ConfigurationError as exc:
        sys.exit(f"dispatchwire: {exc}")
    except ValidationError as exc:
        sys.exit(f"dispatchwire: invalid settings: {_describe(exc)}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dispatchwire", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")
    serve = commands.add_parser("serve", help="run the server")
    for name, kind in SERVE_OPTIONS.items():
        serve.add_argument("--" + name.replace("_", "-"), type=kind,
                           help=f"overrides DISPATCHWIRE_{name.upper()}")
    serve.add_argument("--demo", action="store_true",
                       help="create and print demo accounts (for a laptop, never production)")
    serve.set_defaults(handler=_serve)
    admin = commands.add_parser("create-admin", help="create an admin account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="asked for when left out")
    admin.add_argument("--name", default="Admin")
    admin.set_defaults(handler=_create_admin)
    return parser


def _serve(settings: Settings, _args: argparse.Namespace) -> None:
    import uvicorn

    from dispatchwire.app import create_app
    from dispatchwire.gateway.server import uvicorn_config

    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # noise at import
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()


def _create_admin(settings: Settings, args: argparse.Namespace) -> None:
    password = args.password or getpass.getpass("Password for the new admin: ")
    asyncio.run(_insert_admin(settings, email=args.email, password=password, name=args.name))


async def _insert_admin(settings: Settings, **fields: Any) -> None:
    from pydantic import TypeAdapter

    from dispatchwire.auth.schemas import RegisterIn
    from dispatchwire.auth.service import create_user
    from dispatchwire.context import open_context

    try:
        TypeAdapter(RegisterIn).validate_python({**fields, "role": "admin"})
    except ValidationError as exc:
        sys.exit(f"dispatchwire: {_describe(exc)}")
    async with open_context(settings) as ctx:
        try:
            user, _ = await create_user(ctx, phone=None, role="admin", **fields)
        except Conflict as exc:
            sys.exit(f"dispatchwire: {exc.message}")
    print(f"admin {user.email} created (user id {user.id})")


def _describe(exc: ValidationError) -> str:
    """Each bad field and what was wrong, without echoing values (they may be secrets)."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
