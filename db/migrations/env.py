"""Alembic environment: the URL comes from the Config built in db.session.

All pending migrations run in one transaction, so a failure leaves the schema as it
was. SQLite's Python driver commits DDL on its own unless it is told to leave
transactions to us (``isolation_level=None`` and an explicit BEGIN); ``BEGIN IMMEDIATE``
and, on PostgreSQL, an advisory lock make two processes starting at once migrate one
after the other (the second then finds nothing to do).
"""

from alembic import context
from sqlalchemy import engine_from_config, event, pool, text

from emostudio.db.models import Base

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK = 7_364_205  # any constant: the key of the PostgreSQL advisory lock


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:  # a caller's connection, inside the caller's transaction (a restore)
        context.configure(connection=given, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    sqlite = connectable.dialect.name == "sqlite"
    if sqlite:

        @event.listens_for(connectable, "connect")
        def _no_driver_transactions(dbapi_connection, _record):
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA busy_timeout = 60000")

        @event.listens_for(connectable, "begin")
        def _begin_immediate(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    with connectable.connect() as connection:
        # batch mode: SQLite can only change a table's columns by copying it.
        # transactional_ddl: SQLite does roll DDL back, once the driver stops committing on its own
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            transactional_ddl=True,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
