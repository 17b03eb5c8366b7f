"""PLACEHOLDER for the integrator's 0015 (the node lifecycle of the launcher
rewrite): it changes nothing and exists only so that 0016 (autohold) has its
down revision on this branch. Drop this file when merging with the real 0015.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
