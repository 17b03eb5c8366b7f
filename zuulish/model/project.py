"""Projects (repositories) and their configuration in a layout."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Project:
    """A repository known to a connection."""

    connection: str
    name: str
    canonical_hostname: str = "localhost"
    trusted: bool = False

    @property
    def canonical_name(self) -> str:
        return f"{self.canonical_hostname}/{self.name}"


@dataclass(frozen=True)
class JobReference:
    """A job named in a project's pipeline, with optional inline overrides."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    line: int | None = field(default=None, compare=False)
    # Named by a config project's stanza: allowed-projects does not apply.
    trusted: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class ProjectPipelineJobs:
    """The jobs a project runs in one pipeline."""

    pipeline: str
    jobs: tuple[JobReference, ...] = ()
    fail_fast: bool | None = None  # None: not set here


@dataclass
class ProjectConfig:
    """A ``project`` stanza: which jobs run for a project in which pipelines."""

    name: str
    queue: str | None = None
    templates: tuple[str, ...] = ()
    pipelines: dict[str, ProjectPipelineJobs] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    merge_mode: str | None = None  # Zuul's names; None: not set by this stanza
    fail_fast: bool | None = None  # the default for this stanza's pipelines
    # Branch matchers (regexes, full match): explicit, or implied by the branch
    # an untrusted project's stanza was read from. Empty: every branch.
    branches: tuple[str, ...] = ()
    source_project: str = ""  # the project whose file holds the stanza
    trusted: bool = False  # that project is a config project
    source_file: str | None = None
    source_line: int | None = None

    def applies_to(self, branch: str | None) -> bool:
        """Whether this stanza applies to a change on ``branch`` (None: any branch)."""
        if branch is None or not self.branches:
            return True
        return any(re.fullmatch(b, branch) for b in self.branches)
