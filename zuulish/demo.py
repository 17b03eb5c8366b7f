"""``zuulish demo``: a working gate on the embedded default, shown end to end.

It sets up a tenant under ``.zuulish-demo/`` from ``config-examples/quickstart``
(SQLite, the built-in git forge, the local node pool), then acts as a team
would: clones the repos, pushes five changes for review with ``git push``,
approves them, and watches the gate. One change breaks its tests; two form a
cross-repo pair joined by ``Depends-On``. The good changes merge, the bad one
is rejected, and the rest are not held up by it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

import zuulish
from zuulish.app import AllInOne
from zuulish.drivers.git.review import review
from zuulish.errors import UserError
from zuulish.runner import WebThread, free_port, port_is_free
from zuulish.server_config import load_server_config
from zuulish.store import ChangeRow, ReportRow

ROOT = Path(zuulish.__file__).resolve().parent.parent
QUICKSTART = ROOT / "config-examples" / "quickstart"
JOBS = ROOT / "jobs"
TIMEOUT_S = 300
#: How long each demo job takes beyond its tests, and the pause between two pushes:
#: enough for a person who opens the dashboard when it is printed to watch the gate work.
JOB_SECONDS = 6.0
PACE_SECONDS = 4.0
JOB_SECONDS_VAR = "demo_job_seconds: 0"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Demo Developer", "GIT_AUTHOR_EMAIL": "dev@example.org",
    "GIT_COMMITTER_NAME": "Demo Developer", "GIT_COMMITTER_EMAIL": "dev@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass
class DemoChange:
    key: str
    project: str
    subject: str
    files: dict[str, str]
    expect: str  # "merged" or "rejected"
    depends_on: str | None = None
    number: int = 0
    outcome: str = ""
    events: list[str] = field(default_factory=list)


def scenario() -> list[DemoChange]:
    return [
        DemoChange("lib-farewell", "demo/lib", "Add a farewell helper", {
            "demolib/farewell.py": 'def farewell(name: str) -> str:\n'
                                   '    return f"Goodbye, {name}!"\n',
            "tests/test_farewell.py": (
                "import unittest\n\nfrom demolib.farewell import farewell\n\n\n"
                "class FarewellTest(unittest.TestCase):\n"
                "    def test_farewell(self):\n"
                '        self.assertEqual(farewell("zuulish"), "Goodbye, zuulish!")\n'),
        }, "merged"),
        DemoChange("app-version", "demo/app", "Report the app's version", {
            "app_version.py": 'VERSION = "1.1"\n\n\ndef version() -> str:\n'
                              '    return f"demo-app {VERSION}"\n',
            "tests/test_version.py": (
                "import unittest\n\nfrom app_version import version\n\n\n"
                "class VersionTest(unittest.TestCase):\n"
                "    def test_version(self):\n"
                '        self.assertEqual(version(), "demo-app 1.1")\n'),
        }, "merged"),
        DemoChange("app-broken", "demo/app", "Greet everyone by default (breaks the tests)", {
            "app.py": (ROOT / "config-examples/quickstart/repos/demo-app/app.py").read_text()
            .replace('"world"', '"everyone"'),
        }, "rejected"),
        DemoChange("lib-loud", "demo/lib", "Add greet_loudly", {
            "demolib/loud.py": "from demolib import greet\n\n\n"
                               "def greet_loudly(name: str) -> str:\n"
                               "    return greet(name).upper()\n",
            "tests/test_loud.py": (
                "import unittest\n\nfrom demolib.loud import greet_loudly\n\n\n"
                "class LoudTest(unittest.TestCase):\n"
                "    def test_loud(self):\n"
                '        self.assertEqual(greet_loudly("z"), "HELLO, Z!")\n'),
        }, "merged"),
        DemoChange("app-loud", "demo/app", "Add a loud greeting (needs demo/lib's greet_loudly)", {
            "loud.py": "from demolib.loud import greet_loudly\n\n\n"
                       "def main() -> str:\n    return greet_loudly(\"world\")\n",
            "tests/test_loud.py": (
                "import unittest\n\nimport loud\n\n\n"
                "class LoudAppTest(unittest.TestCase):\n"
                "    def test_loud(self):\n"
                '        self.assertEqual(loud.main(), "HELLO, WORLD!")\n'),
        }, "merged", depends_on="lib-loud"),
    ]


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout + proc.stderr


def read_dir(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.parts and "__pycache__" not in p.parts}


def setup_demo_dir(directory: Path, port: int) -> Path:
    """Fresh state directory with the quick start's server and tenant config."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    text = (QUICKSTART / "zuulish.yaml").read_text()
    text = text.replace("listen: 127.0.0.1:9000", f"listen: 127.0.0.1:{port}")
    (directory / "zuulish.yaml").write_text(text)
    shutil.copy(QUICKSTART / "main.yaml", directory / "main.yaml")
    return directory / "zuulish.yaml"


def with_job_seconds(files: dict[str, str], seconds: float) -> dict[str, str]:
    """A demo repository's files with its jobs' ``demo_job_seconds`` set to ``seconds``."""
    text = files[".zuul.yaml"]
    if JOB_SECONDS_VAR not in text:
        raise UserError(f"the demo's .zuul.yaml no longer sets {JOB_SECONDS_VAR!r}")
    return {**files, ".zuul.yaml": text.replace(JOB_SECONDS_VAR,
                                                f"demo_job_seconds: {seconds:g}")}


def as_typed(path: Path) -> str:
    """``path`` as a person types it here: relative when it lies below this directory."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def zuulish_command() -> str:
    """How to run zuulish again from this directory (``.venv/bin/zuulish`` after make)."""
    program = Path(sys.argv[0])
    if program.name == "zuulish" and program.is_file():
        return shlex.quote(as_typed(program))
    return f"{shlex.quote(sys.executable)} -m zuulish.cli"


class Demo:
    def __init__(self, directory: Path, port: int, job_seconds: float = JOB_SECONDS,
                 pace: float = PACE_SECONDS):
        self.t0 = time.monotonic()
        self.job_seconds = job_seconds
        self.pace = pace
        self.directory = directory.resolve()
        if port == 0 or not port_is_free("127.0.0.1", port):
            port = free_port()
        config_path = setup_demo_dir(self.directory, port)
        self.config = load_server_config(config_path)
        self.aio = AllInOne(self.config)
        self.forge = self.aio.connections.forges["forge"]
        self.web: WebThread | None = None
        self.changes = scenario()

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {message}", flush=True)

    def create_projects(self) -> None:
        repos = QUICKSTART / "repos"
        self.forge.create_project("zuul-config", read_dir(repos / "zuul-config"))
        self.forge.create_project("zuulish-jobs", read_dir(JOBS))
        for name, source in (("demo/lib", "demo-lib"), ("demo/app", "demo-app")):
            self.forge.create_project(
                name, with_job_seconds(read_dir(repos / source), self.job_seconds))

    def push(self, change: DemoChange, by_key: dict[str, DemoChange]) -> None:
        work = self.directory / "work" / change.key
        _git(self.directory, "clone", "-q", str(self.forge.repo_path(change.project)),
             str(work))
        for path, text in change.files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        change_id = "I" + hashlib.sha1(change.key.encode()).hexdigest()
        message = f"{change.subject}\n\n"
        if change.depends_on:
            needed = by_key[change.depends_on]
            message += f"Depends-On: {self.forge.change_url(needed.project, needed.number)}\n"
        message += f"Change-Id: {change_id}\n"
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "-m", message)
        _git(work, "push", "-q", "origin", "HEAD:refs/for/main")
        sha = _git(work, "rev-parse", "HEAD").strip()
        with self.aio.store.read() as s:
            row = s.scalars(select(ChangeRow).where(ChangeRow.commit_sha == sha)).one()
        change.number = row.number
        self.say(f"pushed change {row.number} to {change.project}: {change.subject}")

    def outcome(self, change: DemoChange) -> str | None:
        with self.aio.store.read() as s:
            row = s.scalars(select(ChangeRow).where(ChangeRow.number == change.number)).one()
            if row.status == "MERGED":
                return "merged"
            failed = s.scalars(select(ReportRow).where(
                ReportRow.change_id == row.id, ReportRow.pipeline == "gate",
                ReportRow.result.is_not(None), ReportRow.result != "SUCCESS")).first()
            return "rejected" if failed else None

    def run(self) -> dict:
        self.create_projects()
        self.aio.start()
        self.web = WebThread(self.aio)
        self.web.start()
        self.say(f"zuulish is running. Open the dashboard now to watch the gate live: "
                 f"{self.dashboard}")
        by_key = {c.key: c for c in self.changes}
        for i, change in enumerate(self.changes):
            if i:
                time.sleep(self.pace)
            self.push(change, by_key)
            review(self.aio.store, "forge", change.number, approve=True)
            self.say(f"approved change {change.number}")
        pending = list(self.changes)
        deadline = time.monotonic() + TIMEOUT_S
        while pending and time.monotonic() < deadline:
            for change in list(pending):
                result = self.outcome(change)
                if result:
                    change.outcome = result
                    pending.remove(change)
                    self.say(f"change {change.number} ({change.project}) {result}: "
                             f"{change.subject}")
            time.sleep(0.2)
        for change in pending:
            change.outcome = "timed out"
            self.say(f"change {change.number} did not finish within {TIMEOUT_S}s")
        return {
            "merged": [c.number for c in self.changes if c.outcome == "merged"],
            "rejected": [c.number for c in self.changes if c.outcome == "rejected"],
            "dashboard": self.dashboard,
        }

    @property
    def dashboard(self) -> str:
        return f"{self.config.web_url}/t/demo/status"

    def hints(self, serving: bool) -> list[str]:
        """Commands to try next, each of which works as printed, from this directory."""
        base = f"{zuulish_command()} -c {shlex.quote(as_typed(self.config.path))}"
        rejected = next((c.number for c in self.changes if c.outcome == "rejected"),
                        self.changes[0].number)
        hints = [f"{base} changes", f"{base} show {rejected}", f"{base} project list"]
        if serving:
            hints.append(f"{base} status")
        return hints

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        self.aio.stop()


def run_demo(directory: Path, once: bool, port: int, job_seconds: float = JOB_SECONDS,
             pace: float = PACE_SECONDS) -> int:
    if job_seconds < 0 or pace < 0:
        raise UserError("--job-seconds and --pace must be 0 or more")
    demo = Demo(directory, port, job_seconds, pace)
    try:
        summary = demo.run()
        ok = all(c.outcome == c.expect for c in demo.changes)
        print()
        print("What happened:")
        for c in demo.changes:
            extra = " (Depends-On the library change)" if c.depends_on else ""
            print(f"  change {c.number:>2} {c.project:<9} {c.outcome:<9} {c.subject}{extra}")
        print(f"The gate tested each change on top of the ones ahead of it, merged the good "
              f"ones and rejected the broken one without holding up the rest "
              f"({time.monotonic() - demo.t0:.1f}s).")
        for hint in demo.hints(serving=not once):
            print(f"Try: {hint}")
        if not ok:
            print("Unexpected outcome: see the dashboard and the logs under "
                  f"{demo.config.state_dir / 'logs'}")
        if not once:
            print(f"Serving the dashboard at {summary['dashboard']} (Ctrl-C to stop)")
        print(json.dumps(summary), flush=True)
        if not once:
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            while not stop.wait(1.0):
                pass
        return 0 if ok else 1
    finally:
        demo.stop()
