"""builds say whether the scheduler has noticed that they finished; indexes for
the scheduler's incremental passes (pending build sets, items by queue and by change)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Builds made before this revision are history: they count as noticed.
    with op.batch_alter_table('builds') as batch:
        batch.add_column(sa.Column('noticed', sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.create_index('ix_builds_unnoticed', ['noticed', 'state'])
    op.create_index('ix_buildsets_pending', 'buildsets', ['merge_state', 'current'])
    op.create_index('ix_queue_items_queue', 'queue_items', ['tenant', 'pipeline', 'queue_name'])
    op.create_index('ix_queue_items_change', 'queue_items', ['connection', 'change_number'])


def downgrade() -> None:
    op.drop_index('ix_queue_items_change', table_name='queue_items')
    op.drop_index('ix_queue_items_queue', table_name='queue_items')
    op.drop_index('ix_buildsets_pending', table_name='buildsets')
    with op.batch_alter_table('builds') as batch:
        batch.drop_index('ix_builds_unnoticed')
        batch.drop_column('noticed')
