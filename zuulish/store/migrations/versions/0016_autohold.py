"""autohold requests (the autoholds table), and the request that holds a node
and until when (nodes.hold_id, nodes.hold_until)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'autoholds',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant', sa.String(length=255), nullable=False),
        sa.Column('project', sa.String(length=255), nullable=False),
        sa.Column('job', sa.String(length=255), nullable=False),
        sa.Column('ref_filter', sa.String(length=255), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('current_count', sa.Integer(), nullable=False),
        sa.Column('node_hold_expiration', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('account', sa.String(length=255), nullable=True),
        sa.Column('held', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_autoholds_match', 'autoholds', ['tenant', 'project', 'job'])
    with op.batch_alter_table('nodes') as batch:
        batch.add_column(sa.Column('hold_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('hold_until', sa.Float(), nullable=True))
        batch.create_index('ix_nodes_hold_id', ['hold_id'])


def downgrade() -> None:
    with op.batch_alter_table('nodes') as batch:
        batch.drop_index('ix_nodes_hold_id')
        batch.drop_column('hold_until')
        batch.drop_column('hold_id')
    op.drop_index('ix_autoholds_match', table_name='autoholds')
    op.drop_table('autoholds')
