"""scale-out: the components table (who runs, where, and their heartbeats), the
leases table (the active scheduler's lease) and builds.zone / nodes.zone (executor zones)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'components',
        sa.Column('id', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('hostname', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('machine', sa.String(length=255), nullable=False),
        sa.Column('zone', sa.String(length=255), nullable=True),
        sa.Column('address', sa.Text(), nullable=True),
        sa.Column('config_hash', sa.String(length=64), nullable=True),
        sa.Column('version', sa.String(length=32), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('started_at', sa.Float(), nullable=False),
        sa.Column('heartbeat_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_components_kind', 'components', ['kind', 'state'])
    op.create_table(
        'leases',
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('holder', sa.String(length=128), nullable=True),
        sa.Column('epoch', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    with op.batch_alter_table('builds') as batch:
        batch.add_column(sa.Column('zone', sa.String(length=255), nullable=True))
    with op.batch_alter_table('nodes') as batch:
        batch.add_column(sa.Column('zone', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('nodes') as batch:
        batch.drop_column('zone')
    with op.batch_alter_table('builds') as batch:
        batch.drop_column('zone')
    op.drop_table('leases')
    op.drop_index('ix_components_kind', table_name='components')
    op.drop_table('components')
