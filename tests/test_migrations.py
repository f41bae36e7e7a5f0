"""The migrations build exactly the schema the models describe, on both databases, and move
the data they must."""

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dispatchwire.clock import at_epoch_ms, utcnow
from dispatchwire.dispatch.models import DeliveredVia
from dispatchwire.dispatch.receipts import record_sent_and_delivered
from dispatchwire.models import Base
from dispatchwire.store.migrate import alembic_config, upgrade
from tests.conftest import Api, fresh_database
from tests.pg import PostgresServer


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    # `database_url` is a migrated PostgreSQL copy, or a new SQLite path: migrate it here.
    engine = create_async_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == [], "models and migrations disagree: add a migration"


async def test_0003_clears_idle_since_of_the_masters_on_a_job(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    now = "2026-11-26 07:00:00.000000"
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0002"))
            for n in (1, 2):
                await conn.execute(text(
                    "INSERT INTO users (id, email, password_hash, name, role, created_at,"
                    " last_event_id) VALUES (:n, :email, '!', 'm', 'master', :now, 0)"),
                    {"n": n, "email": f"m{n}@example.com", "now": now})
                await conn.execute(text(
                    "INSERT INTO masters (id, user_id, specializations, on_shift, idle_since,"
                    " created_at) VALUES (:n, :n, '[]', 1, :now, :now)"), {"n": n, "now": now})
            await conn.execute(text(
                "INSERT INTO orders (client_id, master_id, status, appliance_type, problem,"
                " address, created_at, updated_at) VALUES (2, 1, 'in_progress', 'oven', 'p', 'a',"
                " :now, :now)"), {"now": now})
            await conn.commit()
        await upgrade(engine)
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT id, idle_since FROM masters ORDER BY id"))
            rows = result.all()
    finally:
        await engine.dispose()
    assert [(id_, idle is None) for id_, idle in rows] == [(1, True), (2, False)]


async def test_several_processes_migrating_one_postgresql_at_once_take_turns(
        pg_server: PostgresServer) -> None:
    """Four real processes start on one empty database together: one migrates, the others wait
    for it (the advisory lock) and find the schema done; none fails, nothing is made twice."""
    url = await fresh_database(pg_server)
    env = {**os.environ, "DISPATCHWIRE_DATABASE_URL": url, "DISPATCHWIRE_JWT_SECRET": "m" * 48,
           "DISPATCHWIRE_ARGON2_TIME_COST": "1", "DISPATCHWIRE_ARGON2_MEMORY_KIB": "1024"}
    processes = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatchwire", "create-admin", "--email", f"admin{n}@example.com",
        "--password", "correct horse battery", env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE) for n in range(4)]
    results = await asyncio.gather(*(p.communicate() for p in processes))
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr.decode()[-2000:]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            admins = await conn.scalar(text("SELECT count(*) FROM users WHERE role = 'admin'"))
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    finally:
        await engine.dispose()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert versions == [(head,)]
    assert admins == 4
    assert differences == []


async def test_0008_downgrade_writes_back_the_steps_kept_in_other_rows(api: Api) -> None:
    """`placed`, `offered`, `expired` and a carried `sent` become rows of `order_steps` again,
    with what the timeline showed for them, so that the code before 0008 shows every step."""
    master, client, admin = await api.master(), await api.register("client"), await api.admin()
    order = await api.order(client)
    async with api.ctx.db.read() as sql:
        offer_id = await sql.scalar("SELECT id FROM assignments WHERE order_id = :id",
                                    {"id": order["id"]})
    frame_ms = int(time.time() * 1000)
    await record_sent_and_delivered(api.ctx, sent=[(order["id"], offer_id, master.master_id, 7,
                                                    frame_ms)],
                                    delivered={DeliveredVia.SOCKET: [offer_id]}, at=utcnow())
    await api.call("POST", f"/api/orders/{order['id']}/status", client,
                   json={"status": "cancelled"})
    shown = await api.call("GET", f"/api/admin/orders/{order['id']}/timeline", admin)
    assert [step["kind"] for step in shown] == [
        "placed", "offered", "sent", "delivered", "status", "expired"]
    engine = create_async_engine(api.ctx.settings.database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0007"))
            await conn.commit()
            rows = (await conn.execute(text(
                "SELECT kind, at, assignment_id, master_id, detail FROM order_steps"
                " WHERE order_id = :id AND kind <> 'delivered' ORDER BY at, id"),
                {"id": order["id"]})).all()
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
            await conn.commit()
    finally:
        await engine.dispose()
    written = {kind: (at, assignment_id, master_id, json.loads(detail)
                      if isinstance(detail, str) else detail)
               for kind, at, assignment_id, master_id, detail in rows}
    assert sorted(written) == ["expired", "offered", "placed", "sent", "status"]
    assert written["expired"][1:] == (offer_id, master.master_id, {"reason": "withdrawn"})
    assert written["placed"][1:] == (None, None, {"by": client.id,
                                                  "applianceType": "washing_machine"})
    assert written["offered"][1:3] == (offer_id, master.master_id)
    assert written["offered"][3] == shown[1]["detail"]
    assert written["sent"][1:] == (offer_id, master.master_id, {"socket": 7})
    sent_at = written["sent"][0]
    sent_at = sent_at if isinstance(sent_at, datetime) else datetime.fromisoformat(sent_at)
    assert sent_at.replace(tzinfo=UTC) == at_epoch_ms(frame_ms)
