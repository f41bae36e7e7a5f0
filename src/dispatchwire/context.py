"""The running parts one process shares: settings, database, outbox, broker, pushes, presence,
security."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from dispatchwire.alarm import Alarm
from dispatchwire.auth.security import KnownUsers, LoginBrake, Passwords, Tokens
from dispatchwire.broker import Broker, broker_from_url
from dispatchwire.due_receipts import DueReceipts
from dispatchwire.events.outbox import Outbox
from dispatchwire.last_seen import LastSeen
from dispatchwire.presence import Presence
from dispatchwire.push.sender import Pusher
from dispatchwire.settings import Settings
from dispatchwire.store import Database
from dispatchwire.store.migrate import upgrade

__all__ = ["Context", "open_context"]


@dataclass
class Context:
    settings: Settings
    db: Database
    outbox: Outbox
    broker: Broker
    pusher: Pusher
    passwords: Passwords
    tokens: Tokens
    login_brake: LoginBrake
    known_users: KnownUsers = field(default_factory=KnownUsers)
    presence: Presence = field(default_factory=Presence)
    alarm: Alarm = field(default_factory=Alarm)  # wakes the expiry loop for a nearer deadline
    last_seen: LastSeen = field(default_factory=LastSeen)  # masters seen, to be written
    # the gateway's receipts waiting for their window: stored first by an answer or a poll
    due_receipts: DueReceipts = field(default_factory=DueReceipts)


@contextlib.asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[Context]:
    """Connect the database (migrated) and the broker; close both on exit."""
    secret = settings.resolve_jwt_secret()
    db = Database(settings.database_url)
    broker = broker_from_url(settings.broker_url)
    pusher = Pusher.from_settings(settings)
    try:
        await upgrade(db.write_engine)
        await broker.connect()
        yield Context(
            settings=settings, db=db, outbox=Outbox(broker.publish), broker=broker, pusher=pusher,
            passwords=Passwords(time_cost=settings.argon2_time_cost,
                                memory_kib=settings.argon2_memory_kib),
            tokens=Tokens(secret=secret, ttl_s=settings.jwt_ttl_s,
                          previous_secrets=settings.resolve_previous_jwt_secrets()),
            login_brake=LoginBrake(max_failures=settings.login_max_failures,
                                   window_s=settings.login_failure_window_s),
        )
    finally:
        await pusher.aclose()
        await broker.disconnect()
        await db.dispose()
