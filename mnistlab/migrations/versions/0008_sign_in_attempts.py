"""Sign-in attempts per client address, in the database: one limit for every API process and host.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_attempts',
                    sa.Column('address', sa.String(length=64), nullable=False),
                    sa.Column('window_start', sa.Float(), nullable=False),
                    sa.Column('attempts', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('address'))


def downgrade() -> None:
    op.drop_table('sign_in_attempts')
