"""queue items remember when their own state passed (verify-first queues)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('queue_items') as batch:
        batch.add_column(sa.Column('verified_at', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('queue_items') as batch:
        batch.drop_column('verified_at')
