"""The `dispatchwire` command: `serve`, `create-admin` and `backup` (the server), `master` and
`watch` (clients of a running server, which need none of the server's settings)."""

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
    if hasattr(args, "client_handler"):  # a client of a server: no server settings needed
        try:
            sys.exit(args.client_handler(args))
        except ValueError as exc:  # an option out of range (a backoff cap below its base)
            sys.exit(f"dispatchwire: {exc}")
        except KeyboardInterrupt:  # Ctrl-C before the app took over the signal
            sys.exit(130)
    overrides = {k: v for k, v in vars(args).items() if k in SERVE_OPTIONS and v is not None}
    if getattr(args, "demo", False):
        overrides["demo"] = True
    if getattr(args, "access_log", False):
        overrides["access_log"] = True
    try:
        settings = Settings(**overrides)
        if args.handler is not _backup:  # a backup signs nothing
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
    serve.add_argument("--access-log", action="store_true",
                       help="log every HTTP request (overrides DISPATCHWIRE_ACCESS_LOG)")
    serve.set_defaults(handler=_serve)
    admin = commands.add_parser("create-admin", help="create an admin account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="asked for when left out")
    admin.add_argument("--name", default="Admin")
    admin.set_defaults(handler=_create_admin)
    backup = commands.add_parser(
        "backup", help="copy the SQLite database, consistently, while it serves",
        description="Copy the SQLite database to FILE with SQLite's online backup API, while "
                    "the server runs. For PostgreSQL use pg_dump or pg_basebackup.")
    backup.add_argument("file", help="where to write the copy (replaced if it exists)")
    backup.add_argument("--database-url", help="overrides DISPATCHWIRE_DATABASE_URL")
    backup.set_defaults(handler=_backup)
    _add_client_commands(commands)
    return parser


def _add_client_commands(commands: Any) -> None:
    master = commands.add_parser("master", help="a technician's terminal app (live offers)")
    watch = commands.add_parser("watch", help="print a user's socket frames, with resume")
    for command in (master, watch):
        command.add_argument("--url", default="http://127.0.0.1:3000",
                             help="the server (default: %(default)s)")
        command.add_argument("--email")
        command.add_argument("--password", help="asked for when left out")
        command.add_argument("--ping-interval", type=float, default=45.0,
                             help="seconds between application pings (default: %(default)s)")
        command.add_argument("--backoff-base", type=float, default=1.0,
                             help="retry n waits up to min(cap, base * 2**n) seconds "
                                  "(default: %(default)s)")
        command.add_argument("--backoff-cap", type=float, default=60.0,
                             help="(default: %(default)s)")
    master.add_argument("--poll-interval", type=float, default=60.0,
                        help="seconds between polls while the socket is down "
                             "(default: %(default)s)")
    watch.add_argument("--token", help="a JWT to use instead of --email and --password")
    watch.add_argument("--last-event-id", type=int,
                       help="start with the replay of every event after this id")
    watch.add_argument("--no-subscribe", action="store_true",
                       help="masters: do not subscribe to offers")
    master.set_defaults(client_handler=_master)
    watch.set_defaults(client_handler=_watch)


def _credentials(args: argparse.Namespace) -> tuple[str | None, str | None]:
    if getattr(args, "token", None):
        return None, None
    if not args.email:
        sys.exit("dispatchwire: give --email (and --password), or --token")
    return args.email, args.password or getpass.getpass(f"Password for {args.email}: ")


def _master(args: argparse.Namespace) -> int:
    from dispatchwire.client import Backoff, Options
    from dispatchwire.client.tui import run_master

    email, password = _credentials(args)
    assert email is not None and password is not None
    options = Options(poll_interval=args.poll_interval, ping_interval=args.ping_interval,
                      backoff=Backoff(args.backoff_base, args.backoff_cap))
    return asyncio.run(run_master(args.url, email=email, password=password, options=options))


def _watch(args: argparse.Namespace) -> int:
    from dispatchwire.client import Backoff, Options
    from dispatchwire.client.watch import run_watch

    email, password = _credentials(args)
    options = Options(poll=False, subscribe=not args.no_subscribe,
                      ping_interval=args.ping_interval,
                      backoff=Backoff(args.backoff_base, args.backoff_cap))
    return asyncio.run(run_watch(args.url, email=email, password=password, token=args.token,
                                 last_event_id=args.last_event_id, options=options))


def _serve(settings: Settings, _args: argparse.Namespace) -> None:
    import uvicorn

    from dispatchwire.app import create_app
    from dispatchwire.gateway.server import uvicorn_config

    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # noise at import
    # What the format above never shows, logging need not look up for every line (the
    # "Optimization" section of the logging HOWTO): ~2 µs of a ~10 µs line.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # the caller's file and line
    _tune_gc()
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()


def _tune_gc() -> None:
    """Fewer, cheaper collections: a server holds many long-lived objects per socket.

    The objects made at import never die: frozen, no collection walks them again. Young
    collections run after 20,000 allocations instead of 700, so a storm of connections does
    not trigger thousands of them; the middle generation is collected every 3 of them, not 20:
    in a storm most young objects live on (they are sockets), and a middle generation grown
    from 20 young collections took 140-190 ms to walk, one of 3 about 30 ms.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 3, 10)


def _backup(settings: Settings, args: argparse.Namespace) -> None:
    import sqlite3
    from pathlib import Path

    from dispatchwire.backup import backup

    try:
        done = backup(settings, target=Path(args.file))
    except (OSError, sqlite3.Error) as exc:  # no such folder, a full disk, not a database
        sys.exit(f"dispatchwire: backup to {args.file} failed: {exc}")
    print(f"backed up {done.source} to {done.target}: {done.size} bytes, {done.orders} orders, "
          "integrity check ok")


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
