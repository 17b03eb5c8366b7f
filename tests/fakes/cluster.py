"""A zuulish deployment of separate component processes, for the scale-out tests.

The tenant (config project, jobs library, projects) is made with :class:`GateTenant`
over the test's PostgreSQL database; each component then runs as its own process
(``zuulish scheduler``, ``executor``...), reaching the database through a
:class:`TcpProxy` that the test can cut. Schedulers and the web share the state
directory that holds the built-in forge (and ``secrets.key``); every executor and
merger has a state directory of its own (with a copy of the key), as on a host of
its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import make_url, select

from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.tenant import GateTenant
from zuulish.store import ComponentRow, LeaseRow

FAST = {"heartbeat_seconds": 0.5, "dead_after_seconds": 3, "lease_seconds": 2}

#: a project whose gate runs one job that does nothing
QUICK_APP = """
- job:
    name: quick
    parent: run-shell
    vars:
      command: "true"
- project:
    queue: shared
    gate:
      jobs: [quick]
"""


@dataclass
class Proc:
    name: str
    kind: str
    popen: subprocess.Popen
    log: Path
    config: Path

    def signal(self, sig: int) -> None:
        os.killpg(self.popen.pid, sig)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def owns(self, pid: int | None) -> bool:
        """Whether ``pid`` is this process or runs in its process group (a wrapper
        such as faketime starts the component as its child)."""
        if pid is None:
            return False
        if pid == self.popen.pid:
            return True
        try:
            return os.getpgid(pid) == self.popen.pid
        except ProcessLookupError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Cluster:
    def __init__(self, tmp: Path, database_url: str, projects: dict[str, dict[str, str]],
                 timing: dict[str, float] | None = None, **tenant_options: Any):
        self.tmp = tmp
        self.tenant = GateTenant(tmp, database_url, projects, **tenant_options)
        url = make_url(database_url)
        self.proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
        self.proxied_url = url.set(host="127.0.0.1", port=self.proxy.port) \
            .render_as_string(hide_password=False)
        base = yaml.safe_load((tmp / "zuulish.yaml").read_text())
        base["database"] = self.proxied_url
        base["cluster"] = dict(timing or FAST)
        base["state_dir"] = str(self.tenant.config.state_dir)
        base["tenant_file"] = str(self.tenant.config.tenant_file)
        self.base = base
        self.procs: list[Proc] = []
        # the tenant's own store reads what users see; it needs the key made already
        self.key = self.tenant.config.state_dir / "secrets.key"
        from zuulish.secrets import master_key

        master_key(self.tenant.config.state_dir)

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.tenant.aio.store

    def config_for(self, name: str, own_state: bool, **overrides: Any) -> Path:
        data = yaml.safe_load(yaml.safe_dump(self.base))
        if own_state:
            state = self.tmp / f"state-{name}"
            state.mkdir(exist_ok=True)
            shutil.copy(self.key, state / "secrets.key")
            data["state_dir"] = str(state)
        for key, value in overrides.items():
            if isinstance(value, dict):
                data.setdefault(key, {}).update(value)
            else:
                data[key] = value
        path = self.tmp / f"zuulish-{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    def start(self, kind: str, name: str | None = None, wrap: list[str] | None = None,
              **overrides: Any) -> Proc:
        name = name or f"{kind}{sum(p.kind == kind for p in self.procs) + 1}"
        config = self.config_for(name, kind in ("executor", "merger"), **overrides)
        log = self.tmp / f"{name}.log"
        popen = subprocess.Popen([*(wrap or []), sys.executable, "-m", "zuulish.cli", "-c",
                                  str(config), kind], stdout=log.open("a"),
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1",
                                      # faketime (a clock that jumps): monotonic stays true
                                      "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
        proc = Proc(name, kind, popen, log, config)
        self.procs.append(proc)
        return proc

    def wait_running(self, proc: Proc, timeout: float = 60) -> None:
        self.wait_for(lambda: "is running" in proc.output() or not proc.alive, timeout,
                      f"{proc.name} to start")
        if not proc.alive:
            raise AssertionError(f"{proc.name} exited:\n{proc.output()}")

    def component_id(self, proc: Proc) -> str:
        with self.store.read() as s:
            rows = s.execute(select(ComponentRow.id, ComponentRow.pid).where(
                ComponentRow.kind == proc.kind)
                .order_by(ComponentRow.started_at.desc())).all()
        ids = [cid for cid, pid in rows if proc.owns(pid)]
        assert ids, f"{proc.name} has not registered"
        return ids[0]

    def active_scheduler(self) -> Proc | None:
        with self.store.read() as s:
            lease = s.get(LeaseRow, "scheduler")
            holder = lease.holder if lease is not None else None
            pid = s.scalar(select(ComponentRow.pid).where(ComponentRow.id == holder)) \
                if holder else None
        return next((p for p in self.procs if p.alive and p.owns(pid)), None)

    def wait_for(self, predicate, timeout: float = 120, what: str = "condition"):  # type: ignore[no-untyped-def]
        """The tenant's wait, with every component's log when it times out."""
        try:
            return self.tenant.wait_for(predicate, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(f"--- {p.name} ({'alive' if p.alive else 'exited'})\n"
                         f"{p.output()[-tail:]}" for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.alive:
                try:
                    proc.signal(signal.SIGCONT)
                    proc.signal(signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.signal(signal.SIGKILL)
                proc.popen.wait(10)
        self.proxy.stop()
        self.tenant.aio.store.dispose()


class RemoteHost:
    """Another "host": a network namespace joined to this one by a veth pair, whose
    processes see the test's state directories hidden (an empty directory bound over
    each): what they get of the deployment, they get over the network."""

    def __init__(self, tmp: Path, hidden: list[Path]):
        from tests.fakes.ssh_node import _free_subnet
        from tests.fakes.ssh_node import _run as _ip_run

        def _ip(*args: str) -> None:
            _ip_run("ip", *args)

        tag = f"{os.getpid() % 10000}{int(time.time() * 1000) % 1000}"
        self.netns, self._host_if, node_if = f"zlr{tag}", f"zlrh{tag}", f"zlrn{tag}"
        self.empty = tmp / "remote-empty"
        self.empty.mkdir(exist_ok=True)
        self.hidden = hidden
        with _free_subnet() as subnet:
            self.host_ip, self.ip = f"10.213.{subnet}.1", f"10.213.{subnet}.2"
            _ip("netns", "add", self.netns)
            _ip("link", "add", self._host_if, "type", "veth", "peer", "name", node_if)
            _ip("link", "set", node_if, "netns", self.netns)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self._host_if)
        _ip("link", "set", self._host_if, "up")
        for args in (("addr", "add", f"{self.ip}/30", "dev", node_if),
                     ("link", "set", node_if, "up"), ("link", "set", "lo", "up"),
                     # a default route: pasta (untrusted playbooks' network) needs one
                     ("route", "add", "default", "via", self.host_ip)):
            _ip("netns", "exec", self.netns, "ip", *args)

    def wrap(self) -> list[str]:
        """A command prefix that runs what follows on this host."""
        binds = " && ".join(f"mount --bind {self.empty} {p}" for p in self.hidden)
        return ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--propagation",
                "private", "sh", "-c", f'{binds} && exec "$@"', "remote"]

    def close(self) -> None:
        pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        subprocess.run(["ip", "link", "del", self._host_if], capture_output=True)

