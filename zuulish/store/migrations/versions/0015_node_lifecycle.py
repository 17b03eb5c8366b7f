"""nodes keep their whole lifecycle in the store (requested, building, ready,
in-use, used, deleting, deleted, failed, held): the cloud's id for each, when its
state last changed, what it costs and the cloud's reason when it failed; node
requests remember their tenant, the nodeset alternatives still to try, the
provider serving them and the boots that failed; and this installation's system
id, which tags every instance it creates in a cloud

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('nodes') as batch:
        batch.add_column(sa.Column('tenant', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('state_at', sa.Float(), nullable=True))
        batch.add_column(sa.Column('ready_at', sa.Float(), nullable=True))
        batch.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch.add_column(sa.Column('resources', sa.JSON(), nullable=False,
                                   server_default='{}'))
        batch.create_index('ix_nodes_state', ['state', 'provider'])
    with op.batch_alter_table('node_requests') as batch:
        batch.add_column(sa.Column('tenant', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('provider', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('alternatives', sa.JSON(), nullable=False,
                                   server_default='[]'))
        batch.add_column(sa.Column('alternative', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('failures', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('tried', sa.JSON(), nullable=False, server_default='[]'))
    op.create_table(
        'settings',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('settings')
    with op.batch_alter_table('node_requests') as batch:
        for column in ('tried', 'failures', 'alternative', 'alternatives', 'provider', 'tenant'):
            batch.drop_column(column)
    with op.batch_alter_table('nodes') as batch:
        batch.drop_index('ix_nodes_state')
        for column in ('resources', 'error', 'ready_at', 'state_at', 'external_id', 'tenant'):
            batch.drop_column(column)
