"""The `dispatchwire` command: `serve`, `settings`, `create-admin`, `set-password` and `backup`
(the server's), `master` and `watch` (clients of a running server, which need none of the server's
settings).

Settings come from DISPATCHWIRE_* variables, then an environment file (`--env-file`, or
`dispatchwire.env` in the working folder when it is there), then the defaults.
"""

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from pydantic import ValidationError

from dispatchwire.errors import ConfigurationError, DomainError, describe_invalid
from dispatchwire.settings import ENV_FILE, ClientSettings, Settings

__all__ = ["main"]

# `serve` options that override DISPATCHWIRE_* variables.
SERVE_OPTIONS: dict[str, type] = {
    "host": str, "port": int, "database_url": str, "broker_url": str,
    "assignment_timeout_s": float, "subscription_stale_s": float, "log_level": str,
    "log_format": str,
}


class Stopped(Exception):
    """SIGTERM or SIGHUP before a command took the signals over (as Ctrl-C raises
    KeyboardInterrupt): the command ends with one line, not a traceback."""


def _stopped(signum: int, _frame: FrameType | None) -> NoReturn:
    raise Stopped(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # `nohup` keeps SIGHUP ignored
            signal.signal(signum, _stopped)
    try:
        _run(_parser().parse_args(argv))
    except (KeyboardInterrupt, Stopped) as exc:
        sys.exit(f"dispatchwire: stopped by {exc or 'SIGINT'}")


def _run(args: argparse.Namespace) -> None:
    env_file = _env_file(args.env_file)
    if hasattr(args, "client_handler"):  # a client of a server: no server settings needed
        args.url = args.url or ClientSettings(_env_file=env_file).url  # type: ignore[call-arg]
        try:
            sys.exit(args.client_handler(args))
        except ValueError as exc:  # an option out of range (a backoff cap below its base)
            sys.exit(f"dispatchwire: {exc}")
    overrides = {k: v for k, v in vars(args).items() if k in SERVE_OPTIONS and v is not None}
    if getattr(args, "demo", False):
        overrides["demo"] = True
    if getattr(args, "access_log", False):
        overrides["access_log"] = True
    try:
        settings = Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
        if args.handler is not _backup:  # a backup signs nothing
            settings.resolve_jwt_secret()  # fail before anything starts
            settings.resolve_previous_jwt_secrets()
        args.handler(settings, args)
    except ConfigurationError as exc:
        sys.exit(f"dispatchwire: {exc}")
    except ValidationError as exc:
        sys.exit(f"dispatchwire: invalid settings: {describe_invalid(exc)}")
    except DomainError as exc:
        sys.exit(f"dispatchwire: {exc.message}")


def _env_file(given: Path | None) -> Path | None:
    """The environment file to read: the one given (which must exist), else the working
    folder's `dispatchwire.env`, if any."""
    if given is not None:
        if not given.is_file():
            sys.exit(f"dispatchwire: no environment file {given}")
        return given
    default = Path(ENV_FILE)
    return default if default.is_file() else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dispatchwire", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", type=Path, metavar="FILE",
                        help=f"read DISPATCHWIRE_* settings from FILE (default: ./{ENV_FILE} "
                             "when present); the environment's own variables win")
    commands = parser.add_subparsers(required=True, metavar="command")
    serve = commands.add_parser("serve", help="run the server", parents=[common])
    for name, kind in SERVE_OPTIONS.items():
        serve.add_argument("--" + name.replace("_", "-"), type=kind,
                           help=f"overrides DISPATCHWIRE_{name.upper()}")
    serve.add_argument("--demo", action="store_true",
                       help="create and print demo accounts (for a laptop, never production)")
    serve.add_argument("--access-log", action="store_true",
                       help="log every HTTP request (overrides DISPATCHWIRE_ACCESS_LOG)")
    serve.set_defaults(handler=_serve)
    shown = commands.add_parser("settings", parents=[common],
                                help="print the settings in effect, secrets masked")
    shown.set_defaults(handler=_settings)
    backup = commands.add_parser(
        "backup", parents=[common],
        help="copy the SQLite database, consistently, while it serves",
        description="Copy the SQLite database to FILE with SQLite's online backup API, while "
                    "the server runs. For PostgreSQL use pg_dump or pg_basebackup.")
    backup.add_argument("file", help="where to write the copy (replaced if it exists)")
    backup.add_argument("--database-url", help="overrides DISPATCHWIRE_DATABASE_URL")
    backup.set_defaults(handler=_backup)
    _add_account_commands(commands, common)
    _add_client_commands(commands, common)
    return parser


def _add_account_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    from dispatchwire.accounts_cli import create_admin, set_password

    admin = commands.add_parser("create-admin", help="create an admin account", parents=[common])
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="asked for when left out")
    admin.add_argument("--name", default="Admin")
    admin.set_defaults(handler=create_admin)
    reset = commands.add_parser("set-password", parents=[common],
                                help="give a user a new password (asked for, or read from "
                                     "standard input when it is not a terminal)")
    reset.add_argument("--email", required=True)
    reset.set_defaults(handler=set_password)


def _add_client_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    master = commands.add_parser("master", help="a technician's terminal app (live offers)",
                                 parents=[common])
    watch = commands.add_parser("watch", help="print a user's socket frames, with resume",
                                parents=[common])
    for command in (master, watch):
        command.add_argument("--url", help="the server (default: DISPATCHWIRE_URL, else "
                                           f"{ClientSettings.model_fields['url'].default})")
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
    master.add_argument("--lang", choices=("en", "ru"),
                        help="the app's language (default: from LC_ALL, LC_MESSAGES or LANG)")
    watch.add_argument("--token", help="a JWT to use instead of --email and --password")
    watch.add_argument("--last-event-id", type=int,
                       help="start with the replay of every event after this id")
    watch.add_argument("--no-subscribe", action="store_true",
                       help="masters: do not subscribe to offers")
    master.set_defaults(client_handler=_master)
    watch.set_defaults(client_handler=_watch)


def _credentials(args: argparse.Namespace, prompt: str = "Password for {email}: "
                 ) -> tuple[str | None, str | None]:
    import getpass

    if getattr(args, "token", None):
        return None, None
    if not args.email:
        sys.exit("dispatchwire: give --email (and --password), or --token")
    return args.email, args.password or getpass.getpass(prompt.format(email=args.email))


def _master(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from dispatchwire.client import Backoff, Options
    from dispatchwire.client._i18n import Messages, language_from_env
    from dispatchwire.client.tui import run_master

    lang = args.lang or language_from_env(os.environ)  # the user's locale, not a server setting
    email, password = _credentials(args, Messages(lang)("passwordPrompt", email="{email}"))
    assert email is not None and password is not None
    options = Options(poll_interval=args.poll_interval, ping_interval=args.ping_interval,
                      backoff=Backoff(args.backoff_base, args.backoff_cap))
    return asyncio.run(run_master(args.url, email=email, password=password, options=options,
                                  lang=lang))


def _watch(args: argparse.Namespace) -> int:
    import asyncio

    from dispatchwire.client import Backoff, Options
    from dispatchwire.client.watch import run_watch

    email, password = _credentials(args)
    options = Options(poll=False, subscribe=not args.no_subscribe,
                      ping_interval=args.ping_interval,
                      backoff=Backoff(args.backoff_base, args.backoff_cap))
    return asyncio.run(run_watch(args.url, email=email, password=password, token=args.token,
                                 last_event_id=args.last_event_id, options=options))


def _serve(settings: Settings, _args: argparse.Namespace) -> None:
    from dispatchwire.app import create_app
    from dispatchwire.http.server import uvicorn_config
    from dispatchwire.logs import configure_logging
    from dispatchwire.serving import Server

    ids = configure_logging(settings)
    _tune_gc()
    Server(uvicorn_config(create_app(settings), settings), ids=ids).run()


def _settings(settings: Settings, args: argparse.Namespace) -> None:
    from dispatchwire.settings_report import report

    print(report(settings, env_file=_env_file(args.env_file)))


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
