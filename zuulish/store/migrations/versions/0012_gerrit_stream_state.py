"""the Gerrit driver remembers how far each connection's event stream is covered
and which events it stored, so a catch-up after a disconnection stores each
missed event once

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gerrit_stream_state',
        sa.Column('connection', sa.String(length=255), nullable=False),
        sa.Column('covered_until', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('connection'),
    )
    op.create_table(
        'gerrit_seen_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('connection', sa.String(length=255), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_gerrit_seen_events_key', 'gerrit_seen_events',
                    ['connection', 'key'])


def downgrade() -> None:
    op.drop_index('ix_gerrit_seen_events_key', table_name='gerrit_seen_events')
    op.drop_table('gerrit_seen_events')
    op.drop_table('gerrit_stream_state')
