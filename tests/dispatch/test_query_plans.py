"""PostgreSQL walks dispatch's index for an order's candidates, however many masters are on
shift (migration 0007), instead of reading every one of them and sorting."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dispatchwire.dispatch.eligibility import OrderFacts, eligible_masters

MASTERS = 2000


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_orders_candidates_come_from_the_index_in_order(database_url: str) -> None:
    engine = create_async_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO users (id, email, password_hash, name, role, created_at)"
                " SELECT i, 'm' || i || '@x.example', '!', 'M', 'master', :now"
                " FROM generate_series(1, :n) AS i"), {"now": now, "n": MASTERS})
            await conn.execute(text(
                "INSERT INTO masters (id, user_id, specializations, on_shift, idle_since,"
                " created_at) SELECT i, i, CASE WHEN i % 3 = 0 THEN '[\"fridge\"]' ELSE '[]'"
                " END::json, TRUE, :now, :now FROM generate_series(1, :n) AS i"),
                {"now": now, "n": MASTERS})
            await conn.execute(text("ANALYZE masters"))
        query, params = eligible_masters(OrderFacts(1, "washing_machine", "p", "a", None, None))
        async with engine.connect() as conn:
            plan = "\n".join(row[0] for row in await conn.execute(
                text("EXPLAIN " + query.format(live="", limit="LIMIT 16")), params))
    finally:
        await engine.dispose()
    assert "Index Scan using ix_masters_shift_idle" in plan, plan
    assert "Seq Scan on masters" not in plan and "Sort" not in plan, plan
