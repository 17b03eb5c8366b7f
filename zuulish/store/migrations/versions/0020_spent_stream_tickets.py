"""the stream tickets used already, shared by every web (zuulish.store.tickets)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'spent_stream_tickets',
        sa.Column('jti', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('jti'),
    )
    op.create_index('ix_spent_stream_tickets_expires', 'spent_stream_tickets',
                    ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_spent_stream_tickets_expires', table_name='spent_stream_tickets')
    op.drop_table('spent_stream_tickets')
