"""A build's task summary, read from the ``job-output.json`` its executor wrote.

That file is a list of task results (``zuulish.executor.ansible_run``): one
record per task and host, with its phase (pre-run, run, post-run, cleanup),
playbook, play (where recorded), task name, action, result (ok, changed,
failed, failed (ignored), skipped, unreachable), start and end (ISO 8601, UTC)
and output. This groups them as the build page shows them: playbooks, each with
its plays, each with its tasks, each with its hosts. The file is what a job
wrote through Ansible: every value is checked for its type and cut to size, and
a file over ``MAX_BYTES`` is not read at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: The largest ``job-output.json`` summarised (a bigger one is named, not read).
MAX_BYTES = 16 * 1024 * 1024
#: How much of a host's output the summary keeps for each task.
MAX_OUTPUT = 4000
FAILED = frozenset({"failed", "unreachable"})
#: Which result of a task's hosts speaks for the task (the worst one).
RANK = {"unreachable": 5, "failed": 4, "failed (ignored)": 3, "changed": 2, "ok": 1,
        "skipped": 0}


@dataclass
class HostResult:
    host: str
    result: str
    duration: float | None
    rc: int | None
    msg: str
    stdout: str
    stderr: str


@dataclass
class Task:
    index: int  # its place in the build, for an anchor (task-N)
    name: str
    action: str
    phase: str
    playbook: str
    play: str
    start: float | None = None
    end: float | None = None
    hosts: list[HostResult] = field(default_factory=list)

    @property
    def result(self) -> str:
        return max((h.result for h in self.hosts), key=lambda r: RANK.get(r, 1), default="ok")

    @property
    def failed(self) -> bool:
        return self.result in FAILED

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return round(max(0.0, self.end - self.start), 3)


@dataclass
class Play:
    name: str
    tasks: list[Task] = field(default_factory=list)


@dataclass
class Playbook:
    phase: str
    name: str
    plays: list[Play] = field(default_factory=list)

    @property
    def tasks(self) -> list[Task]:
        return [t for p in self.plays for t in p.tasks]

    @property
    def failed(self) -> bool:
        return any(t.failed for t in self.tasks)

    @property
    def start(self) -> float | None:
        return min((t.start for t in self.tasks if t.start is not None), default=None)

    @property
    def end(self) -> float | None:
        return max((t.end for t in self.tasks if t.end is not None), default=None)


@dataclass
class Summary:
    playbooks: list[Playbook]
    error: str | None = None  # why there is no summary, when there is none

    @property
    def tasks(self) -> list[Task]:
        return [t for b in self.playbooks for t in b.tasks]

    @property
    def failed_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.failed]

    @property
    def hosts(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.tasks:
            for h in t.hosts:
                seen.setdefault(h.host, None)
        return list(seen)

    def phases(self) -> list[dict[str, Any]]:
        """Each phase's span (first task's start to last task's end), in order."""
        spans: dict[str, list[float]] = {}
        for b in self.playbooks:
            for when in (b.start, b.end):
                if when is not None:
                    spans.setdefault(b.phase, []).append(when)
        return [{"phase": phase, "start": min(times), "end": max(times)}
                for phase, times in spans.items()]


def _text(value: Any, limit: int = 500) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more]"


def _time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def summarise(records: Any) -> Summary:
    """Group ``job-output.json``'s records (a list of dicts) into playbooks, plays,
    tasks and hosts, in the order they ran."""
    if not isinstance(records, list):
        return Summary([], "job-output.json is not a list of task results")
    playbooks: list[Playbook] = []
    tasks: dict[tuple[int, str, str], Task] = {}
    for record in records:
        if not isinstance(record, dict):
            continue
        phase, book_name = _text(record.get("phase"), 40), _text(record.get("playbook"))
        play_name, name = _text(record.get("play")), _text(record.get("task")) or "(unnamed)"
        if not playbooks or (playbooks[-1].phase, playbooks[-1].name) != (phase, book_name):
            playbooks.append(Playbook(phase, book_name))
        book = playbooks[-1]
        if not book.plays or book.plays[-1].name != play_name:
            book.plays.append(Play(play_name))
        play = book.plays[-1]
        key = (len(playbooks), play_name, name)
        task = tasks.get(key)
        if task is None or task not in play.tasks[-1:]:
            task = Task(len(tasks) + 1, name, _text(record.get("action"), 100), phase,
                        book_name, play_name)
            tasks[key] = task
            play.tasks.append(task)
        start, end = _time(record.get("start")), _time(record.get("end"))
        if start is not None:
            task.start = start if task.start is None else min(task.start, start)
        if end is not None:
            task.end = end if task.end is None else max(task.end, end)
        result = _text(record.get("result"), 40) or "ok"
        if result == "ok" and record.get("changed") is True:
            result = "changed"
        rc = record.get("rc")
        task.hosts.append(HostResult(
            _text(record.get("host"), 200), result, _number(record.get("duration")),
            rc if isinstance(rc, int) and not isinstance(rc, bool) else None,
            _text(record.get("msg"), MAX_OUTPUT), _text(record.get("stdout"), MAX_OUTPUT),
            _text(record.get("stderr"), MAX_OUTPUT)))
    return Summary(playbooks)


def parse(data: bytes) -> Summary:
    """The summary of a ``job-output.json``'s bytes (an error when it is not JSON)."""
    try:
        records = json.loads(data.decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        return Summary([], f"job-output.json is not JSON: {exc}")
    return summarise(records)
