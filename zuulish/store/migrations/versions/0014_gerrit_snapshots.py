"""the Gerrit driver remembers the last known branch and tag tips of its projects and the
topic, hashtags and work-in-progress flag of its changes, so a catch-up after a
disconnection can rebuild ref-updated, topic-changed, hashtags-changed and
wip-state-changed events from what changed meanwhile

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gerrit_ref_tips',
        sa.Column('connection', sa.String(length=255), nullable=False),
        sa.Column('project', sa.String(length=255), nullable=False),
        sa.Column('ref', sa.String(length=255), nullable=False),
        sa.Column('revision', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('connection', 'project', 'ref'),
    )
    op.create_table(
        'gerrit_change_states',
        sa.Column('connection', sa.String(length=255), nullable=False),
        sa.Column('change_number', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('project', sa.String(length=255), nullable=False),
        sa.Column('topic', sa.Text(), nullable=True),
        sa.Column('hashtags', sa.JSON(), nullable=False),
        sa.Column('wip', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('connection', 'change_number'),
    )


def downgrade() -> None:
    op.drop_table('gerrit_change_states')
    op.drop_table('gerrit_ref_tips')
