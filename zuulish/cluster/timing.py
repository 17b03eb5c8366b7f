"""How often components heartbeat, when silence means death, how long a lease lasts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """The ``cluster:`` section of zuulish.yaml (seconds)."""

    heartbeat: float = 2.0  # how often a component refreshes its row
    dead_after: float = 15.0  # silent this long: declared dead, its work redone
    lease: float = 6.0  # the active scheduler's lease; a standby takes over after it

    def problem(self) -> str | None:
        """Why these values cannot work together (None: they can)."""
        if min(self.heartbeat, self.dead_after, self.lease) <= 0:
            return "every value must be a positive number of seconds"
        if self.dead_after < 3 * self.heartbeat:
            return (f"dead_after_seconds ({self.dead_after:g}) must be at least three "
                    f"heartbeats ({3 * self.heartbeat:g}s): one late heartbeat must not "
                    "kill a component")
        if self.lease < 3 * self.heartbeat / 2:
            return (f"lease_seconds ({self.lease:g}) must be at least one and a half "
                    f"heartbeats ({1.5 * self.heartbeat:g}s)")
        return None
