"""SQLite's WAL is copied back into the database file in the background, soon after commits,
rather than by the writer's own commit once the WAL passes 1,000 pages (store/checkpoints.py)."""

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dispatchwire.store.checkpoints import SAFETY_NET_PAGES
from tests.conftest import Api, make_settings, running_app
from tests.events.test_batches import add_user


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_app(make_settings(f"sqlite:///{tmp_path}/db.sqlite")) as running:
        yield running


def emails_in_file_alone(database: Path, copy: Path) -> set[str]:
    """The users the database file holds by itself: a copy of it without its WAL."""
    shutil.copyfile(database, copy)
    try:
        with sqlite3.connect(copy) as connection:
            return {row[0] for row in connection.execute("SELECT email FROM users")}
    except sqlite3.DatabaseError:  # copied while a checkpoint wrote to it: look again
        return set()
    finally:
        copy.unlink()


@pytest.mark.timeout(60)
async def test_commits_reach_the_database_file_soon_without_waiting_for_a_full_wal(
        api: Api, tmp_path: Path) -> None:
    names = [f"checkpointed{i}" for i in range(20)]
    for name in names:
        await add_user(api.ctx.db, name)
    wanted = {f"{name}@example.com" for name in names}
    database, copy = tmp_path / "db.sqlite", tmp_path / "copy.sqlite"
    # A few pages of WAL: the writer's own checkpoint (at 1,000 pages, or now 20,000) is far
    # off, so only the background one can have copied them.
    for _ in range(100):  # 25 s
        if wanted <= emails_in_file_alone(database, copy):
            break
        await asyncio.sleep(0.25)
    assert wanted <= emails_in_file_alone(database, copy)


@pytest.mark.timeout(60)
async def test_the_writer_leaves_checkpoints_to_the_background_up_to_its_safety_net(
        api: Api) -> None:
    await add_user(api.ctx.db, "first")  # the writer's connection opens with its first write
    writer = api.ctx.db._writer
    assert writer is not None and writer._writer is not None
    connection = writer._writer[1].connection
    assert connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_NET_PAGES
