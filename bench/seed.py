"""Users for a run, written straight into each system's database before its server starts.

Registering 10,000 masters through REST would cost 10,000 argon2 hashes (~100 ms each), so the
set-up writes the rows itself: dispatchwire's through its own models and migrations, the peer's
through its schema.sql. Both get the same ids, so one set of tokens serves both: masters are
users 1..N (master i+1 belongs to socket i), then the clients, then the canary (a client).
"""

import asyncio
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import jwt

__all__ = ["PEER_DIR", "Plan", "seed_dispatchwire", "seed_peer", "seed_postgresql"]

REPO = Path(__file__).resolve().parent.parent
PEER_DIR = REPO / "bench" / "peers" / "node-seed"
NO_PASSWORD = "!"  # no one logs in: tokens are minted with the servers' secret


@dataclass(frozen=True)
class Plan:
    masters: int
    clients: int
    secret: str

    def master_user(self, index: int) -> int:
        return index + 1

    def client_user(self, index: int) -> int:
        return self.masters + 1 + index

    @property
    def canary_user(self) -> int:
        return self.masters + self.clients + 1

    def token(self, user_id: int, role: str) -> str:
        """An access token as dispatchwire issues it (HS256; sub, role, iat, exp)."""
        now = int(time.time())
        claims = {"sub": str(user_id), "role": role, "iat": now, "exp": now + 24 * 3600}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def users(self) -> list[tuple[int, str]]:
        """(user id, role) of everyone in the run."""
        return ([(self.master_user(i), "master") for i in range(self.masters)]
                + [(self.client_user(i), "client") for i in range(self.clients)]
                + [(self.canary_user, "client")])


def seed_dispatchwire(path: Path, plan: Plan, env: dict[str, str]) -> None:
    """A fresh dispatchwire database with the run's users and on-shift masters.

    The schema comes from the code under test (`dispatchwire create-admin` migrates the file,
    with `env` choosing the source tree); the rows are then written with plain SQL, so that
    the benchmark's own process never imports another version of dispatchwire's models.
    """
    _migrate(env)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")  # SQLAlchemy's form
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM users")
        conn.executemany(
            "INSERT INTO users (id, email, password_hash, name, phone, role, created_at,"
            " last_event_id) VALUES (?, ?, ?, ?, NULL, ?, ?, 0)",
            [(user_id, f"u{user_id}@bench.example", NO_PASSWORD, f"Bench {role} {user_id}",
              role, now) for user_id, role in plan.users()])
        # No specializations: every master takes every order, as in the peer.
        conn.executemany(
            "INSERT INTO masters (id, user_id, specializations, on_shift, idle_since,"
            " created_at) VALUES (?, ?, '[]', 1, ?, ?)",
            [(i + 1, plan.master_user(i), now, now) for i in range(plan.masters)])
    conn.close()


def _migrate(env: dict[str, str]) -> None:
    """The schema from the code under test: `dispatchwire create-admin` migrates first."""
    # `--password=...`: a random password may start with "-", which argparse would take for
    # an option.
    admin = ["create-admin", "--email", "bench-admin@bench.example",
             f"--password={secrets.token_urlsafe(16)}"]
    subprocess.run([sys.executable, "-m", "bench.server_probe", *admin], check=True, cwd=REPO,
                   env={**os.environ, **env}, stdout=subprocess.DEVNULL)


async def seed_postgresql(url: str, plan: Plan, env: dict[str, str]) -> None:
    """`seed_dispatchwire` on a PostgreSQL database (`url`: SQLAlchemy's, +asyncpg)."""
    await asyncio.to_thread(_migrate, env)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM users")
            await conn.copy_records_to_table(
                "users", columns=["id", "email", "password_hash", "name", "role", "created_at",
                                  "last_event_id"],
                records=[(user_id, f"u{user_id}@bench.example", NO_PASSWORD,
                          f"Bench {role} {user_id}", role, now, 0)
                         for user_id, role in plan.users()])
            await conn.copy_records_to_table(
                "masters", columns=["id", "user_id", "specializations", "on_shift", "idle_since",
                                    "created_at"],
                records=[(i + 1, plan.master_user(i), "[]", True, now, now)
                         for i in range(plan.masters)])
            for table in ("users", "masters"):  # ids were given: move the sequences past them
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                                   f" (SELECT max(id) FROM {table}))")
        await conn.execute("ANALYZE")  # as autovacuum would, a minute after such an insert
    finally:
        await conn.close()


def seed_peer(path: Path, plan: Plan) -> None:
    """Create the peer's tables (its own schema.sql) and insert the same users and masters."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with sqlite3.connect(path) as conn:
        conn.executescript((PEER_DIR / "schema.sql").read_text())
        conn.executemany(
            "INSERT INTO users (id, email, password_hash, name, role, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(user_id, f"u{user_id}@bench.example", NO_PASSWORD, f"Bench {role} {user_id}", role,
              now) for user_id, role in plan.users()])
        conn.executemany(
            "INSERT INTO masters (id, user_id, specializations, on_shift, created_at)"
            " VALUES (?, ?, '[]', 1, ?)",
            [(i + 1, plan.master_user(i), now) for i in range(plan.masters)])
    conn.close()
