"""What the scheduler expects of a driver. Each driver provides a connection,
a source, a trigger parser and a reporter; the scheduler sees only these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from zuulish.model import Change


class Source(Protocol):
    def get_change(self, number: int) -> Change | None:
        """The change's current patch set, with ``needs`` resolved."""

    def config_files(self, project: str, branch: str) -> dict[str, str]:
        """Zuul configuration files on the tip of ``branch``."""

    def exists(self, project: str) -> bool:
        """Whether the connection has a project (repository) of that name."""

    def default_branch(self, project: str) -> str: ...

    def branches(self, project: str) -> list[str]:
        """Every branch of ``project``."""

    def branch_tip(self, project: str, branch: str) -> str | None:
        """The commit ``branch`` points at now; None when there is no such branch."""

    def project_url(self, project: str) -> str:
        """Where a merger or executor can fetch the project from."""

    def change_url(self, project: str, number: int) -> str: ...

    def default_merge_mode(self, project: str) -> str:
        """What ``merge-mode: default`` means here: how the forge itself merges."""


@runtime_checkable
class TopicSource(Protocol):
    """A source whose changes have topics (Gerrit): what ``dependencies-by-topic``
    asks of it. Sources without topics (the built-in forge, GitHub) lack it; the
    scheduler checks with ``isinstance(source, TopicSource)``."""

    def topic_changes(self, topic: str) -> list[Change]:
        """Every open change whose topic is exactly ``topic`` (``needs`` resolved)."""


@runtime_checkable
class DependentsSource(Protocol):
    """A source that can say which of its open changes may depend on a change (of
    its own connection or of another): what Zuul's "enqueue changes behind" asks.
    The scheduler checks with ``isinstance(source, DependentsSource)`` and confirms
    each answer against the change's ``needs``."""

    def changes_depending_on(self, change: Change) -> list[int]:
        """Numbers of this connection's open changes that may need ``change`` (a
        ``Depends-On`` naming it, a commit on top of it); more is harmless, the
        scheduler keeps those whose ``needs`` hold it."""


class Reporter(Protocol):
    def report(self, number: int, *, tenant: str, pipeline: str, action: str,
               result: str | None, votes: dict[str, int], message: str,
               patchset: int | None = None,
               file_comments: dict[str, list[dict[str, Any]]] | None = None,
               options: Mapping[str, Any] | None = None, comment: bool = True) -> None:
        """Comment (and vote, on the current patch set) on a change. ``file_comments``
        (path -> ``{line, message, level?, range?}``, as ``zuul.file_comments``, with
        the ``job``, ``build`` and ``buildset`` that left each one where known) are
        left on lines of the change's files where the forge can, else in the comment.
        ``options`` are the driver's own reporter options (``ReporterSpec.options``);
        ``comment`` false: no comment, only the rest (votes, statuses, labels)."""

    def reported(self, number: int, *, tenant: str, pipeline: str, patchset: int,
                 action: str) -> bool:
        """Whether this reporter already made (or durably recorded) that report: after a
        restart, what was reported is not reported twice."""

    def submit(self, number: int, repo_state: dict, *, tenant: str = "", pipeline: str = "",
               options: Mapping[str, Any] | None = None,
               votes: Mapping[str, int] | None = None) -> str:
        """Merge the change exactly as tested; raise UserError if it cannot. ``tenant``,
        ``pipeline``, ``options`` and ``votes`` are the merging reporter's: a forge that
        requires them to merge (GitHub's required checks, Gerrit's Verified +2) gets
        them before the merge."""
