"""Initial schema: jobs, their epoch metrics, live workers, default models (mnistlab before Alembic).

Revision ID: 0001
Revises:
Create Date: 2026-11-28 10:01:36.336607
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# 64-bit on PostgreSQL; on SQLite a key must stay INTEGER to be the rowid.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'succeeded', 'failed', 'cancelled', name='jobstatus', native_enum=False, length=16), nullable=False),
    sa.Column('dataset', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=16), nullable=False),
    sa.Column('hidden', sa.Integer(), nullable=True),
    sa.Column('optimizer', sa.String(length=16), nullable=False),
    sa.Column('lr', sa.Float(), nullable=False),
    sa.Column('momentum', sa.Float(), nullable=False),
    sa.Column('epochs', sa.Integer(), nullable=False),
    sa.Column('batch_size', sa.Integer(), nullable=False),
    sa.Column('device', sa.String(length=16), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.String(length=64), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('ran_on', sa.String(length=128), nullable=True),
    sa.Column('progress_epoch', sa.Integer(), nullable=False),
    sa.Column('progress_fraction', sa.Float(), nullable=False),
    sa.Column('eta_seconds', sa.Float(), nullable=True),
    sa.Column('last_epoch', sa.Integer(), nullable=True),
    sa.Column('best_epoch', sa.Integer(), nullable=True),
    sa.Column('best_test_accuracy', sa.Float(), nullable=True),
    sa.Column('init_hash', sa.String(length=64), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_heartbeat_at'), ['heartbeat_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_status'), ['status'], unique=False)

    op.create_table('workers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('devices', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workers_heartbeat_at'), ['heartbeat_at'], unique=False)

    op.create_table('default_models',
    sa.Column('dataset', sa.String(length=32), nullable=False),
    sa.Column('job_id', BIG_ID, nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dataset')
    )
    op.create_table('epoch_metrics',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('job_id', BIG_ID, nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('loss', sa.Float(), nullable=False),
    sa.Column('train_accuracy', sa.Float(), nullable=False),
    sa.Column('test_accuracy', sa.Float(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('images_per_second', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id', 'epoch')
    )
    with op.batch_alter_table('epoch_metrics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_epoch_metrics_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('epoch_metrics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_epoch_metrics_job_id'))

    op.drop_table('epoch_metrics')
    op.drop_table('default_models')
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workers_heartbeat_at'))

    op.drop_table('workers')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_jobs_heartbeat_at'))

    op.drop_table('jobs')
