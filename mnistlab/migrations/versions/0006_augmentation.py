"""Augmentation and label smoothing: jobs.augmentation, jobs.label_smoothing.

Existing jobs trained on the images as they are, with hard targets.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('augmentation', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('label_smoothing', sa.Float(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('label_smoothing')
        batch_op.drop_column('augmentation')
