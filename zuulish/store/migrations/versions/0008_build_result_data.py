"""builds keep the data their jobs returned with zuul_return (its child_jobs, and whether it is paused)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('builds') as batch:
        batch.add_column(sa.Column('result_data', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('child_jobs', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('paused', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('builds') as batch:
        batch.drop_column('paused')
        batch.drop_column('child_jobs')
        batch.drop_column('result_data')
