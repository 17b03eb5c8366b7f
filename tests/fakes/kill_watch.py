"""Watchers for a kill test: what a killed ``zuulish run`` left alive, and what its API said.

``BuildProcessWatch`` walks ``/proc`` (on its own, not with zuulish's
``executor.leftovers``) every few hundredths of a second while a test kills and
restarts the server. A process of a build is one whose command line names the
state directory's ``builds/``, or a descendant of one. It is the current
incarnation's when the live server process is among its ancestors; any other is
a leftover of a killed incarnation, and must be gone within ``grace`` seconds.
Each build's ansible-playbook runs are counted too (the build is ``zuul.build``
of the run's inventory or extra vars): two of one build at once, in any
incarnation, mean the build ran twice at once.

``StatusPoller`` asks the web server's status API throughout, and keeps every
answer that is not 200 (a refused connection while the server is down is no
answer, and is fine).
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Proc = tuple[int, str]  # (pid, start time): a process, never one that reused its pid


def processes() -> dict[int, tuple[int, str, list[str]]]:
    """pid -> (parent pid, start time, argv) of every live (not zombie) process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError):
            continue
        if stat[0] != "Z":
            found[int(entry.name)] = (int(stat[1]), stat[19], [a for a in argv if a])
    return found


def _ancestors(pid: int, procs: dict[int, tuple[int, str, list[str]]]) -> list[int]:
    chain: list[int] = []
    while pid in procs and pid not in chain:
        chain.append(pid)
        pid = procs[pid][0]
    return chain


def is_playbook(argv: list[str]) -> bool:
    """An ansible-playbook run: started cold (``python .../ansible-playbook``) or the
    preloaded Ansible's client (``python -IS .../launch-*/bin/ansible-playbook``)."""
    return any(Path(a).name == "ansible-playbook" for a in argv[1:3])


BUILD = re.compile(r"^\s+(?:!unsafe )?'?build'?: (?:!unsafe )?'?([0-9a-f]{32})'?$", re.M)


def _build_of(argv: list[str]) -> str | None:
    """The build an ansible-playbook command line runs: ``zuul.build`` in its inventory
    (``-i``) or in its extra vars (``env/extravars`` beside the inventory's folder)."""
    if "-i" not in argv[:-1]:
        return None
    inventory = Path(argv[argv.index("-i") + 1])
    for path in (inventory, inventory.parent.parent / "env" / "extravars"):
        try:
            found = BUILD.search(path.read_text())
        except (OSError, UnicodeDecodeError):
            continue
        if found:
            return found.group(1)
    return None


@dataclass
class BuildProcessWatch:
    """Polls ``/proc`` in a thread: leftovers of killed servers, builds run twice at once."""

    state_dir: Path
    server_pid: Callable[[], int | None]
    grace: float = 5.0
    polls: int = 0
    leftovers: dict[Proc, tuple[float, str]] = field(default_factory=dict)  # first seen, cmd
    overdue: dict[Proc, str] = field(default_factory=dict)  # alive past the grace
    twice: list[str] = field(default_factory=list)  # a build's two runs at once
    playbook_runs: dict[Proc, str | None] = field(default_factory=dict)  # -> its build
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> BuildProcessWatch:
        self._thread = threading.Thread(target=self._run, name="build-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.poll()

    def poll(self) -> None:
        builds = str(self.state_dir.absolute() / "builds") + "/"
        server = self.server_pid()
        procs = processes()
        if server is not None and server not in procs:
            server = None  # just killed
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        todo = [pid for pid, (_, _, argv) in procs.items() if any(builds in a for a in argv)]
        ours: set[int] = set()
        while todo:
            pid = todo.pop()
            if pid not in ours:
                ours.add(pid)
                todo += children.get(pid, [])
        now = time.monotonic()
        for pid in ours:
            chain = _ancestors(pid, procs)
            if server is not None and server in chain:
                continue
            key = (pid, procs[pid][1])
            seen, cmd = self.leftovers.setdefault(key, (now, " ".join(procs[pid][2])[:300]))
            if now - seen > self.grace:
                self.overdue[key] = cmd
        runs: Counter[str] = Counter()
        for pid in ours:
            ppid, started, argv = procs[pid]
            if is_playbook(argv) and not is_playbook(procs.get(ppid, (0, "", []))[2]):
                key = (pid, started)
                if self.playbook_runs.get(key) is None:
                    self.playbook_runs[key] = _build_of(argv)
                if self.playbook_runs[key]:
                    runs[self.playbook_runs[key]] += 1
        self.twice += [f"build {b}: {n} ansible-playbook runs at once" for b, n in runs.items()
                       if n > 1]
        self.polls += 1


@dataclass
class StatusPoller:
    """Asks ``url`` every ``interval`` seconds in a thread; keeps what each answer was."""

    url: str
    interval: float = 0.2
    answers: Counter[int] = field(default_factory=Counter)  # HTTP status -> how many
    no_answer: int = 0
    bad: list[str] = field(default_factory=list)  # every answer that is not 200
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> StatusPoller:
        self._thread = threading.Thread(target=self._run, name="status-poll", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.ask()

    def serving(self) -> bool:
        """Whether the server answers 200 now (asked once more, outside the thread's count)."""
        try:
            with urllib.request.urlopen(self.url, timeout=10) as answer:
                return answer.status == 200
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException,
                TimeoutError):
            return False

    def ask(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=10) as answer:
                answer.read()
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
            self.bad.append(f"{status}: {error.read()[:300]!r}")
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException, TimeoutError):
            self.no_answer += 1  # down, being killed, or starting: no answer
            return
        self.answers[status] += 1
