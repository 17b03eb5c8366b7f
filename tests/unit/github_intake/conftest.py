"""Fixtures of the GitHub intake tests: an intake worker over the test's store,
with a permission lookup the test sets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from tests.unit.github_intake.helpers import CONNECTION
from zuulish.clock import SimulatedClock
from zuulish.drivers.github.intake_worker import IntakeWorker, PermissionUnavailable
from zuulish.store import EventRow, GithubDeliveryRow, Store


@dataclass
class Permissions:
    """GitHub's collaborator permission per (repo, user); ``read`` when not set.
    ``failures`` lookups fail first, as when the API cannot be reached."""

    given: dict[tuple[str, str], str] = field(default_factory=dict)
    failures: int = 0
    asked: list[tuple[str, str]] = field(default_factory=list)

    def collaborator_permission(self, repo: str, user: str) -> str:
        self.asked.append((repo, user))
        if self.failures:
            self.failures -= 1
            raise PermissionUnavailable(f"GET /repos/{repo}/collaborators/{user}/"
                                        "permission: 502 Bad Gateway")
        return self.given.get((repo, user), "read")


@dataclass
class Intake:
    """Deliveries stored as the webhook stores them, and the worker that reads them."""

    store: Store
    worker: IntakeWorker
    permissions: Permissions

    def receive(self, event: str, body: bytes, delivery: str | None = None) -> str:
        delivery = delivery or str(uuid.uuid4())
        with self.store.session() as session:
            session.add(GithubDeliveryRow(connection=CONNECTION, delivery=delivery,
                                          event=event, body=body, received_at=1.0,
                                          attempts=0))
        return delivery

    def run(self) -> None:
        for _ in range(100):
            if not self.worker.step():
                return

    def events(self) -> list[EventRow]:
        with self.store.read() as session:
            return list(session.scalars(select(EventRow).order_by(EventRow.id)))

    def outcome(self, delivery: str) -> str | None:
        with self.store.read() as session:
            return session.scalar(select(GithubDeliveryRow.outcome).where(
                GithubDeliveryRow.delivery == delivery))


@pytest.fixture
def intake(store: Store) -> Intake:
    permissions = Permissions()
    worker = IntakeWorker(CONNECTION, store, permissions, clock=SimulatedClock(),
                          max_attempts=3)
    return Intake(store, worker, permissions)
