"""The store: SQLAlchemy tables, sessions, work queues and notifications."""

from zuulish.store.base import Base
from zuulish.store.builds import BuildRow
from zuulish.store.changes import ChangeRow, PatchsetRow, ReportRow
from zuulish.store.components import ComponentRow, LeaseRow
from zuulish.store.database import Store
from zuulish.store.events import EventRow
from zuulish.store.gerrit import (
    GerritChangeStateRow,
    GerritRefTipRow,
    GerritSeenEventRow,
    GerritStreamStateRow,
)
from zuulish.store.github import GithubDeliveryRow, GithubPatchsetRow, GithubPullRow
from zuulish.store.holds import AutoholdRow
from zuulish.store.keys import ProjectKeyRow
from zuulish.store.nodes import NodeRequestRow, NodeRow, SettingRow
from zuulish.store.outbox import OutboxRow
from zuulish.store.queue import BuildSetRow, ChangeQueueRow, MergeRequestRow, QueueItemRow
from zuulish.store.tickets import SpentTicketRow
from zuulish.store.timers import TimerTickRow
from zuulish.store.users import ForgeTokenRow, ForgeUserRow

__all__ = [
    "AutoholdRow", "Base", "BuildRow", "BuildSetRow", "ChangeQueueRow", "ChangeRow",
    "ComponentRow", "EventRow", "ForgeTokenRow", "ForgeUserRow",
    "GerritChangeStateRow", "GerritRefTipRow", "GerritSeenEventRow", "GerritStreamStateRow",
    "GithubDeliveryRow", "GithubPatchsetRow", "GithubPullRow", "LeaseRow",
    "MergeRequestRow", "NodeRequestRow", "NodeRow", "OutboxRow", "PatchsetRow", "ProjectKeyRow",
    "QueueItemRow",
    "ReportRow", "SettingRow", "SpentTicketRow", "Store", "TimerTickRow",
]
