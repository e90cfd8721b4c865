"""Optimizer hyper-parameters in one JSON column (optimizer_params) instead of a column each.

SGD jobs keep their momentum (and get nesterov false, what they ran with); Adam jobs had none.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

JOBS = sa.table("jobs", sa.column("id", sa.BigInteger), sa.column("optimizer", sa.String),
                sa.column("momentum", sa.Float), sa.column("optimizer_params", sa.JSON))


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('optimizer_params', sa.JSON(), nullable=True))
    connection = op.get_bind()
    for job_id, optimizer, momentum in connection.execute(sa.select(JOBS.c.id, JOBS.c.optimizer, JOBS.c.momentum)):
        params = {"momentum": momentum, "nesterov": False} if optimizer == "sgd" else {}
        connection.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(optimizer_params=params))
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.alter_column('optimizer_params', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('momentum')


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('momentum', sa.Float(), nullable=True))
    connection = op.get_bind()
    for job_id, params in connection.execute(sa.select(JOBS.c.id, JOBS.c.optimizer_params)):
        connection.execute(sa.update(JOBS).where(JOBS.c.id == job_id)
                           .values(momentum=(params or {}).get("momentum", 0.0)))
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.alter_column('momentum', existing_type=sa.Float(), nullable=False)
        batch_op.drop_column('optimizer_params')
