"""`dispatchwire create-admin` and `dispatchwire set-password`: accounts an operator manages
from the command line, on the database of the settings in effect."""

import argparse
import asyncio
import getpass
import sys
from typing import Any

from pydantic import TypeAdapter, ValidationError

from dispatchwire.errors import Conflict, describe_invalid
from dispatchwire.settings import Settings

__all__ = ["create_admin", "read_password", "set_password"]


def read_password(prompt: str, *, confirm: bool = False) -> str:
    """Asked for at a terminal (twice with `confirm`), else the first line of standard input,
    so that a script can pipe it in without it showing in `ps`."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != password:
        sys.exit("dispatchwire: the two passwords differ; nothing was changed")
    return password


def create_admin(settings: Settings, args: argparse.Namespace) -> None:
    password = args.password or read_password("Password for the new admin: ", confirm=True)
    asyncio.run(_insert_admin(settings, email=args.email, password=password, name=args.name))


def set_password(settings: Settings, args: argparse.Namespace) -> None:
    from dispatchwire.auth.service import set_password as reset
    from dispatchwire.context import open_context

    password = read_password(f"New password for {args.email}: ", confirm=True)

    async def run() -> None:
        async with open_context(settings) as ctx:
            user = await reset(ctx, email=args.email, password=password)
        print(f"password of {user.email} (user id {user.id}) changed; tokens already issued "
              "stay valid until they expire")

    asyncio.run(run())


async def _insert_admin(settings: Settings, **fields: Any) -> None:
    from dispatchwire.auth.schemas import RegisterIn
    from dispatchwire.auth.service import create_user
    from dispatchwire.context import open_context

    try:
        TypeAdapter(RegisterIn).validate_python({**fields, "role": "admin"})
    except ValidationError as exc:
        sys.exit(f"dispatchwire: {describe_invalid(exc)}")
    async with open_context(settings) as ctx:
        try:
            user, _ = await create_user(ctx, phone=None, role="admin", **fields)
        except Conflict as exc:
            sys.exit(f"dispatchwire: {exc.message}")
    print(f"admin {user.email} created (user id {user.id})")
