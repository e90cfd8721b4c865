"""Alembic's entry point: migrate the connection mnistlab hands over, or the database its settings name."""

from __future__ import annotations

from alembic import context

from mnistlab import tables  # noqa: F401  (registers the tables on Base for autogenerate)
from mnistlab.db import Base, make_engine
from mnistlab.schema import VERSION_TABLE


def run(connection) -> None:  # type: ignore[no-untyped-def]
    # render_as_batch: SQLite cannot ALTER most things in place; batch mode copies the table instead.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      transactional_ddl=True, version_table=VERSION_TABLE,
                      include_name=lambda name, kind, _parents: kind != "table" or name in Base.metadata.tables)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:  # mnistlab.schema.upgrade, inside its locked transaction
    run(connection)
else:  # the alembic command line, e.g. `alembic revision --autogenerate -m "..."`
    from mnistlab.settings import Settings

    engine = make_engine(Settings().db_url)
    with engine.begin() as connection:
        run(connection)
    engine.dispose()
