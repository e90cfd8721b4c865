"""Learning-rate schedules and early stopping: jobs.lr_schedule, jobs.early_stopping, jobs.stopped_early.

Existing jobs ran with a constant learning rate and no early stopping.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lr_schedule', sa.String(length=16), nullable=False,
                                      server_default='constant'))
        batch_op.add_column(sa.Column('early_stopping', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('stopped_early', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('stopped_early')
        batch_op.drop_column('early_stopping')
        batch_op.drop_column('lr_schedule')
