"""change queues remember how often their changes fail verification (verify-first queues)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('change_queues') as batch:
        batch.add_column(sa.Column('failure_rate', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('change_queues') as batch:
        batch.drop_column('failure_rate')
