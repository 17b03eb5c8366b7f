"""Compose what is reported on a change when an item leaves a pipeline."""

from __future__ import annotations

from zuulish.model import BuildSet

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
                     f"{format_duration(duration)}{voting}")
    return lines


def report_message(action: str, pipeline: str, buildset: BuildSet | None, web_url: str,
                   detail: str = "", messages: dict[str, str] | None = None) -> str:
    """The comment left on a change; ``messages`` are the pipeline's own headlines."""
    headline = (messages or {}).get(action) or HEADLINES.get(action, action)
    parts = [headline.strip().format(pipeline=pipeline)]
    if detail:
        parts.append(detail)
    lines = build_lines(buildset, web_url)
    if lines:
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
