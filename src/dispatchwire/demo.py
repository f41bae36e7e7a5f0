"""Demo accounts for `make run`: one admin, three masters, one client, off shift."""

import logging

from sqlalchemy import select

from dispatchwire.auth.models import User
from dispatchwire.auth.service import create_user
from dispatchwire.context import Context
from dispatchwire.masters.service import create_master

__all__ = ["DEMO_ACCOUNTS", "ensure_demo_accounts"]

log = logging.getLogger(__name__)

# Well known on purpose: demo mode is for a laptop. They are printed at every start.
DEMO_ACCOUNTS: list[dict[str, object]] = [
    {"email": "admin@example.com", "password": "admin-demo-1", "name": "Ada Admin",
     "role": "admin", "phone": "+1 555 0100"},
    {"email": "master1@example.com", "password": "master-demo-1", "name": "Boris Washer",
     "role": "master", "phone": "+1 555 0101",
     "specializations": ["washing_machine", "dishwasher"]},
    {"email": "master2@example.com", "password": "master-demo-2", "name": "Chen Frost",
     "role": "master", "phone": "+1 555 0102", "specializations": ["refrigerator"]},
    {"email": "master3@example.com", "password": "master-demo-3", "name": "Dana Oven",
     "role": "master", "phone": "+1 555 0103", "specializations": ["oven", "dishwasher"]},
    {"email": "client@example.com", "password": "client-demo-1", "name": "Eve Client",
     "role": "client", "phone": "+1 555 0199"},
]


async def ensure_demo_accounts(ctx: Context) -> None:
    """Create the demo accounts that do not exist yet, and print them all."""
    async with ctx.db.session() as session:
        existing = set(await session.scalars(
            select(User.email).where(User.email.in_([a["email"] for a in DEMO_ACCOUNTS]))
        ))
    for account in DEMO_ACCOUNTS:
        if account["email"] in existing:
            continue
        fields = {k: v for k, v in account.items() if k != "role"}
        if account["role"] == "master":
            await create_master(ctx, **fields, approved=True)  # type: ignore[arg-type]
        else:
            await create_user(ctx, role=account["role"], **fields)  # type: ignore[arg-type]
    lines = [f"  {a['role']:<7} {a['email']:<22} {a['password']:<15} "
             + ", ".join(a.get("specializations", []))  # type: ignore[arg-type]
             for a in DEMO_ACCOUNTS]
    print("Demo accounts (role, email, password, specializations):\n" + "\n".join(lines),
          flush=True)
