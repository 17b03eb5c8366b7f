"""Compose what is reported on a change when an item leaves a pipeline."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zuulish.model import BuildSet
from zuulish.model.file_comments import as_dicts, file_comments
from zuulish.model.returned_data import warnings as returned_warnings

HEADLINES = {
    "success": "Build succeeded ({pipeline} pipeline).",
    "failure": "Build failed ({pipeline} pipeline).",
    "merge-conflict": "Merge failed ({pipeline} pipeline): this change or one ahead of it "
                      "does not merge cleanly.",
    "config-error": "Zuul configuration error ({pipeline} pipeline): this change's "
                    "configuration has errors.",
    "no-jobs": "No jobs run for this change ({pipeline} pipeline).",
    "rejected": "This change cannot enter the {pipeline} pipeline.",
    "start": "Starting {pipeline} jobs.",
    "enqueue": "This change was added to the {pipeline} pipeline.",
    "dequeued": "This change was removed from the {pipeline} pipeline.",
    "dequeue": "This change was removed from the {pipeline} pipeline.",
}

RESULTS = {"success": "SUCCESS", "failure": "FAILURE", "merge-conflict": "MERGE_CONFLICT",
           "config-error": "CONFIG_ERROR", "no-jobs": "NO_JOBS", "rejected": None,
           "dequeued": "DEQUEUED", "start": None, "enqueue": None, "dequeue": "DEQUEUED"}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f" in {seconds}s"
    return f" in {seconds // 60}m {seconds % 60:02d}s"


def build_lines(buildset: BuildSet | None, web_url: str) -> list[str]:
    if buildset is None:
        return []
    lines = []
    for name, build in buildset.builds.items():
        duration = None
        if build.started_at is not None and build.finished_at is not None:
            duration = build.finished_at - build.started_at
        voting = "" if build.voting else " (non-voting)"
        lines.append(f"- {name} {web_url}/build/{build.id} : {build.result}"
                     f"{format_duration(duration)}{voting}{_reason(build.result, build.message)}")
    return lines


#: Results whose build message is the reason a user can act on, shown in the report.
EXPLAINED = frozenset({"ERROR", "NODE_FAILURE", "RETRY_LIMIT", "POST_FAILURE", "TIMED_OUT",
                       "DISK_FULL"})


def _reason(result: str | None, message: str | None) -> str:
    """``: <the first line of the message>`` for results that need one, as Zuul
    gives its error detail; empty otherwise."""
    lines = (message or "").strip().splitlines()
    if result not in EXPLAINED or not lines:
        return ""
    return f": {lines[0][:300]}"


@dataclass(frozen=True)
class Returned:
    """What an item's builds returned for its report: warnings (``job: message``) and
    file comments (path -> comments, in ``model/file_comments``' shape)."""

    warnings: list[str] = field(default_factory=list)
    file_comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def returned_for_report(builds: Sequence[tuple[str, dict[str, Any] | None]],
                        files: Collection[str] | None, own: bool = True,
                        origins: Mapping[str, Mapping[str, Any]] | None = None) -> Returned:
    """The warnings and file comments of ``builds`` (job, returned data) for the report
    on a change touching ``files``. Malformed entries were named in the job logs and
    are left out; so are comments on other files, with a warning as Zuul gives one,
    unless the builds tested other changes too (``own`` false: a batch's probe).
    ``origins`` (job -> ``{job, build, buildset}``) are added to each comment of that
    job's build, for a forge that says where a comment came from (Gerrit's robot
    comments)."""
    notes: list[str] = []
    comments: dict[str, list[dict[str, Any]]] = {}
    for job, data in builds:
        notes.extend(f"{job}: {text}" for text in returned_warnings(data)[0])
        found, _ = file_comments(data)
        for path, entries in as_dicts(found).items():
            if files and path not in files:
                if own:
                    notes.append(f"{job}: comments left on {path}, which this change does "
                                 "not touch, were dropped")
                continue
            origin = dict((origins or {}).get(job) or {})
            comments.setdefault(path, []).extend({**entry, **origin} for entry in entries)
    return Returned(notes, comments)


def report_message(action: str, pipeline: str, buildset: BuildSet | None, web_url: str,
                   detail: str = "", messages: dict[str, str] | None = None,
                   warnings: Sequence[str] = ()) -> str:
    """The comment left on a change; ``messages`` are the pipeline's own headlines,
    ``warnings`` are listed after the builds (``Warning: ...``), as in Zuul."""
    headline = (messages or {}).get(action) or HEADLINES.get(action, action)
    parts = [headline.strip().format(pipeline=pipeline)]
    if detail:
        parts.append(detail)
    lines = build_lines(buildset, web_url)
    if lines:
        parts.append("\n".join(lines))
    if warnings:
        parts.append("\n".join(f"Warning: {text}" for text in warnings))
    if (messages or {}).get("footer"):  # the pipeline's footer-message
        parts.append(str((messages or {})["footer"]).strip())
    return "\n\n".join(parts) + "\n"
