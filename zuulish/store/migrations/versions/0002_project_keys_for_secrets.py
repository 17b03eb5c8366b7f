"""project keys for secrets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 08:10:19.887486
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('project_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('connection', sa.String(length=255), nullable=False),
    sa.Column('project', sa.String(length=255), nullable=False),
    sa.Column('public_pem', sa.Text(), nullable=False),
    sa.Column('private_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection', 'project')
    )


def downgrade() -> None:
    op.drop_table('project_keys')
