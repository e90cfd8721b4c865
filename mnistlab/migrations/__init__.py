"""Alembic migrations of the mnistlab schema; `mnistlab.schema.upgrade` applies them at start-up."""
