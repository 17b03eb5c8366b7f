"""GitHub: webhook deliveries as received (unique per X-GitHub-Delivery), and pull
requests numbered per connection with their head sha history

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'github_deliveries',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('connection', sa.String(length=255), nullable=False),
        sa.Column('delivery', sa.String(length=128), nullable=False),
        sa.Column('event', sa.String(length=64), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.Column('received_at', sa.Float(), nullable=False),
        sa.Column('processed_at', sa.Float(), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('connection', 'delivery', name='uq_github_delivery'),
    )
    op.create_index('ix_github_deliveries_pending', 'github_deliveries',
                    ['processed_at', 'id'])
    op.create_table(
        'github_pulls',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('connection', sa.String(length=255), nullable=False),
        sa.Column('repo', sa.String(length=255), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('head_sha', sa.String(length=64), nullable=True),
        sa.Column('patchset', sa.Integer(), nullable=True),
        sa.Column('base_branch', sa.String(length=255), nullable=True),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('merged', sa.Boolean(), nullable=False),
        sa.Column('draft', sa.Boolean(), nullable=False),
        sa.Column('mergeable', sa.Boolean(), nullable=True),
        sa.Column('labels', sa.JSON(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('github_updated_at', sa.String(length=32), nullable=True),
        sa.Column('refreshed_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('connection', 'repo', 'number', name='uq_github_pull'),
    )
    op.create_table(
        'github_pull_patchsets',
        sa.Column('pull_id', sa.Integer(), nullable=False),
        sa.Column('patchset', sa.Integer(), nullable=False),
        sa.Column('sha', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['pull_id'], ['github_pulls.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pull_id', 'patchset'),
    )


def downgrade() -> None:
    op.drop_table('github_pull_patchsets')
    op.drop_table('github_pulls')
    op.drop_index('ix_github_deliveries_pending', table_name='github_deliveries')
    op.drop_table('github_deliveries')
