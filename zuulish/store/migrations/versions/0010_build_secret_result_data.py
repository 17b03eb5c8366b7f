"""builds keep the secret_data they returned (zuul_return), encrypted with the
server's master key, for the jobs that depend on them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('builds') as batch:
        batch.add_column(sa.Column('secret_result_data', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('builds') as batch:
        batch.drop_column('secret_result_data')
