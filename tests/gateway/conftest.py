"""Gateway fixtures: a real server on a free port, on SQLite (`live`) or on both databases."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.gateway.support import Live, serving

# Timing made short: tests wait for expiries and sweeps in seconds, not minutes.
FAST = {"assignment_timeout_s": 30.0, "ws_auth_timeout_s": 1.0}


@pytest.fixture
async def live(tmp_path: Path, settings_overrides: dict[str, Any]) -> AsyncIterator[Live]:
    """A server on SQLite."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    async with serving(make_settings(url, **{**FAST, **settings_overrides})) as running:
        yield running


@pytest.fixture
async def live_any(database_url: str, settings_overrides: dict[str, Any]) -> AsyncIterator[Live]:
    """A server on SQLite, then on PostgreSQL."""
    async with serving(make_settings(database_url, **{**FAST, **settings_overrides})) as running:
        yield running
