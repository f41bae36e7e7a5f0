"""The running parts one process shares: settings, database, broker, presence, security."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from dispatchwire.alarm import Alarm
from dispatchwire.auth.security import KnownUsers, LoginBrake, Passwords, Tokens
from dispatchwire.broker import Broker, broker_from_url
from dispatchwire.db import Database, Publisher, StoredEvent
from dispatchwire.metrics import EVENTS_STORED
from dispatchwire.presence import Presence
from dispatchwire.settings import Settings

__all__ = ["Context", "open_context"]


@dataclass
class Context:
    settings: Settings
    db: Database
    broker: Broker
    passwords: Passwords
    tokens: Tokens
    login_brake: LoginBrake
    known_users: KnownUsers = field(default_factory=KnownUsers)
    presence: Presence = field(default_factory=Presence)
    alarm: Alarm = field(default_factory=Alarm)  # wakes the expiry loop for a nearer deadline


@contextlib.asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[Context]:
    """Connect the database (migrated) and the broker; close both on exit."""
    from dispatchwire.events.service import store_events
    from dispatchwire.migrate import upgrade

    secret = settings.resolve_jwt_secret()
    db = Database(settings.database_url, store_events=store_events)
    broker = broker_from_url(settings.broker_url)
    try:
        await upgrade(db.write_engine)
        await broker.connect()
        db.publisher = _counting(broker.publish)
        yield Context(
            settings=settings, db=db, broker=broker,
            passwords=Passwords(time_cost=settings.argon2_time_cost,
                                memory_kib=settings.argon2_memory_kib),
            tokens=Tokens(secret=secret, ttl_s=settings.jwt_ttl_s,
                          previous_secrets=settings.resolve_previous_jwt_secrets()),
            login_brake=LoginBrake(max_failures=settings.login_max_failures,
                                   window_s=settings.login_failure_window_s),
        )
    finally:
        await broker.disconnect()
        await db.dispose()


def _counting(publish: Publisher) -> Publisher:
    async def publish_counted(events: list[StoredEvent]) -> None:
        for stored in events:
            EVENTS_STORED.labels(stored.type).inc()
        await publish(events)

    return publish_counted
