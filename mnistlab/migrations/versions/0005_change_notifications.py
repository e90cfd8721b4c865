"""Change notifications on PostgreSQL: every insert or update of a job or a sweep NOTIFYs mnistlab_events.

The API's event broadcaster LISTENs and reads what changed at once instead of polling (issue 16). SQLite has
no NOTIFY: there the broadcaster polls, once per interval for all watchers.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

CHANNEL = "mnistlab_events"  # service/live_events.py listens on it
TABLES = ("jobs", "sweeps")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The payload is "table:id"; PostgreSQL folds identical notifications of one transaction into one.
    op.execute(f"""
        CREATE OR REPLACE FUNCTION mnistlab_notify() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME || ':' || NEW.id);
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql""")
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION mnistlab_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS mnistlab_notify()")
