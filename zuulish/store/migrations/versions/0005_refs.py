"""ref items (post and periodic pipelines) and the timer's last ticks

Queue items may be a ref instead of a change: change_number and patchset become
nullable, and ref/oldrev say which ref update (or branch tip) the item tests.
timer_ticks remembers the newest tick each periodic pipeline fired for.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('queue_items') as batch:
        batch.alter_column('change_number', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('patchset', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('ref', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('oldrev', sa.String(length=64), nullable=True))
    op.create_table(
        'timer_ticks',
        sa.Column('tenant', sa.String(length=255), nullable=False),
        sa.Column('pipeline', sa.String(length=255), nullable=False),
        sa.Column('spec', sa.String(length=255), nullable=False),
        sa.Column('last_tick', sa.Float(), nullable=False),
        sa.Column('fired_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'pipeline', 'spec'),
    )


def downgrade() -> None:
    op.drop_table('timer_ticks')
    with op.batch_alter_table('queue_items') as batch:
        batch.drop_column('oldrev')
        batch.drop_column('ref')
        batch.alter_column('patchset', existing_type=sa.Integer(), nullable=False)
        batch.alter_column('change_number', existing_type=sa.Integer(), nullable=False)
