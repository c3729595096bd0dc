"""Alembic environment: online migrations on the connection :class:`mlvet.store.Store` hands over.

The store opens the connection, takes the migration lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock
on PostgreSQL) and passes the connection in ``config.attributes["connection"]``; the migrations then run
inside that transaction, so a concurrent first open waits and finds the schema at head. Without a
connection (the ``alembic`` command line, for developers) the URL comes from ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from mlvet.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("mlvet migrations run online only")

_connection = config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with _engine.begin() as _conn:
        _run(_conn)
    _engine.dispose()
