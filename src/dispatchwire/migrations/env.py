"""Alembic environment: runs on the connection that `dispatchwire.store.migrate` hands over."""

from alembic import context

from dispatchwire.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through dispatchwire (they run at start-up)")

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
