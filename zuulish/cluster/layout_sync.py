"""Components other than the scheduler follow the layouts the active scheduler runs.

The active scheduler records a new ``layout-generation`` whenever a tenant's layout
changes (a reconfiguration, a merged config change); a launcher or web of another
process that sees the generation change loads the tenants' layouts again, so it
serves the node providers and shows the pages of the configuration in effect.
"""

from __future__ import annotations

import logging
import time
import uuid

from sqlalchemy.exc import SQLAlchemyError

from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import SettingRow, Store

log = logging.getLogger(__name__)

KEY = "layout-generation"


def layout_ids(layouts: TenantLayouts) -> dict[str, int]:
    return {tenant: id(layout) for tenant, layout in layouts.layouts.items()}


class LayoutPublisher:
    """Run by the active scheduler after each pass: a new generation when layouts changed."""

    def __init__(self, store: Store, layouts: TenantLayouts):
        self.store = store
        self.layouts = layouts
        self._seen: dict[str, int] | None = None

    def run_once(self) -> None:
        ids = layout_ids(self.layouts)
        if ids == self._seen:
            return
        with self.store.session() as s:
            row = s.get(SettingRow, KEY)
            value = uuid.uuid4().hex
            if row is None:
                s.add(SettingRow(key=KEY, value=value))
            else:
                row.value = value
        self._seen = ids


class LayoutFollower:
    """In a process without a scheduler: reload the layouts when the generation moves."""

    def __init__(self, store: Store, layouts: TenantLayouts, every: float = 2.0):
        self.store = store
        self.layouts = layouts
        self.every = every
        self.generation: str | None = None
        self._last = 0.0

    def _read(self) -> str | None:
        with self.store.read() as s:
            row = s.get(SettingRow, KEY)
            return row.value if row is not None else None

    def prime(self) -> None:
        """Note the generation now, before the layouts are first loaded."""
        self.generation = self._read()

    def run_once(self) -> bool:
        """True when the layouts were loaded again."""
        if time.monotonic() - self._last < self.every:
            return False
        self._last = time.monotonic()
        try:
            generation = self._read()
        except SQLAlchemyError:
            return False  # the database is away: keep what is loaded
        if generation == self.generation:
            return False
        self.generation = generation
        log.info("the active scheduler's layouts changed (generation %s): loading them",
                 generation)
        self.layouts.load_all()
        return True
