"""indexes for the build and build-set history's filters (zuulish.web.history)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

#: name -> (table, columns)
INDEXES = {
    'ix_builds_finished': ('builds', ['finished_at']),
    'ix_builds_job_finished': ('builds', ['job', 'finished_at']),
    'ix_builds_result_finished': ('builds', ['result', 'finished_at']),
    'ix_queue_items_tenant_project': ('queue_items', ['tenant', 'project']),
    'ix_queue_items_tenant_branch': ('queue_items', ['tenant', 'branch']),
    'ix_queue_items_tenant_change': ('queue_items', ['tenant', 'change_number']),
    'ix_queue_items_tenant_ref': ('queue_items', ['tenant', 'ref']),
    'ix_queue_items_tenant_result': ('queue_items', ['tenant', 'result']),
    'ix_buildsets_created': ('buildsets', ['created_at']),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
