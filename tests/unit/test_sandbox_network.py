"""The network of the sandbox untrusted playbooks run in (``executor.sandbox_network``),
through real bwrap, pasta and ansible-runner.

Each probe is a task on a local-provider node (so it runs on the executor host,
inside the sandbox) that connects to a TCP listener the test opens on the host
and prints ALLOWED or DENIED; the listener also counts what reached it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_sandbox import Build, probe, task, verdicts
from zuulish.app import AllInOne
from zuulish.executor import sandbox
from zuulish.executor.ansible_run import PlaybookRun
from zuulish.executor.phases import run_phases
from zuulish.server_config import load_server_config

PRIVATE_MISSING = sandbox.unavailable("private")
needs_private = pytest.mark.skipif(
    PRIVATE_MISSING is not None, reason=f"{PRIVATE_MISSING} (.ci/run installs it for CI)")
needs_bwrap = pytest.mark.skipif(
    sandbox.find_bwrap() is None,
    reason="bubblewrap (bwrap) is not installed here; .ci/run installs it for CI")
_SUBNETS = itertools.count((os.getpid() * 11) % 200)


class Listener:
    """A TCP listener on the host that accepts (and counts) every connection."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.address, self.port = self.sock.getsockname()[:2]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(5)


def connects(address: str, port: int) -> str:
    """A probe: does a TCP connection to ``address``:``port`` open from the node?"""
    code = f"import socket; socket.create_connection(('{address}', {port}), timeout=3)"
    return probe(f"python3 -c \"{code}\"")


def default_gateway() -> str | None:
    """The host's IPv4 default gateway (pasta gives the namespace the same one)."""
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == "00000000" and int(fields[3], 16) & 2:  # RTF_GATEWAY
            return socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
    return None


def run(build: Build, network: str, *books: PlaybookRun,
        cancel: threading.Event | None = None) -> tuple[str, str]:
    return run_phases(build.private, [], list(books), [], [], build.inventory, {}, build.log,
                      120, cancel, build.work, sandbox_network=network)


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return Build(tmp_path)


@pytest.fixture
def loopback() -> Iterator[Listener]:
    listener = Listener("127.0.0.1")
    yield listener
    listener.close()


@pytest.fixture
def host_address() -> Iterator[str]:
    """A non-loopback address of the host: one end of a veth pair made for the test."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a host address for the test needs root and ip (iproute2) to make a veth")
    name = f"zlv{os.getpid() % 100000}{next(_SUBNETS)}"
    address = f"10.214.{next(_SUBNETS) % 230 + 20}.1"
    made = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name",
                           f"{name}p"], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a veth pair here: {made.stderr.strip()}")
    try:
        for command in (["addr", "add", f"{address}/32", "dev", name],
                        ["link", "set", name, "up"], ["link", "set", f"{name}p", "up"]):
            subprocess.run(["ip", *command], check=True, capture_output=True)
        yield address
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


@needs_private
def test_untrusted_playbook_cannot_reach_the_hosts_loopback(build: Build,
                                                            loopback: Listener) -> None:
    """Neither at 127.0.0.1 nor through the namespace's gateway address."""
    gateway = default_gateway()
    assert gateway is not None, "pasta needs a default route, and it started"
    tasks = connects("127.0.0.1", loopback.port) + connects(gateway, loopback.port)
    result, message = run(build, "private", build.book("reach", tasks, trusted=False))
    assert result == "SUCCESS", message
    assert verdicts(build.text()) == ["DENIED", "DENIED"]
    assert loopback.accepted == 0


def test_trusted_playbook_reaches_the_hosts_loopback(build: Build, loopback: Listener) -> None:
    book = build.book("reach", connects("127.0.0.1", loopback.port), trusted=True)
    result, message = run(build, "private", book)
    assert result == "SUCCESS", message
    assert verdicts(build.text()) == ["ALLOWED"]
    assert loopback.accepted == 1


@needs_private
def test_untrusted_playbook_reaches_the_hosts_other_addresses(build: Build,
                                                             host_address: str) -> None:
    """What the host offers on a non-loopback address is reached as from another
    machine (static nodes, registries): through pasta."""
    listener = Listener(host_address)
    try:
        book = build.book("reach", connects(host_address, listener.port), trusted=False)
        result, message = run(build, "private", book)
    finally:
        listener.close()
    assert result == "SUCCESS", message
    assert verdicts(build.text()) == ["ALLOWED"]
    assert listener.accepted == 1


@needs_bwrap
def test_untrusted_playbook_without_network_reaches_only_its_own_loopback(
        build: Build, loopback: Listener, host_address: str) -> None:
    listener = Listener(host_address)
    own = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
           "socket.create_connection(s.getsockname(), timeout=3)")
    tasks = (connects("127.0.0.1", loopback.port) + connects(host_address, listener.port)
             + probe(f"python3 -c \"{own}\""))
    try:
        result, message = run(build, "none", build.book("reach", tasks, trusted=False))
    finally:
        listener.close()
    assert result == "SUCCESS", message
    assert verdicts(build.text()) == ["DENIED", "DENIED", "ALLOWED"]
    assert loopback.accepted == listener.accepted == 0


@needs_bwrap
def test_untrusted_playbook_on_the_host_network_reaches_the_hosts_loopback(
        build: Build, loopback: Listener) -> None:
    book = build.book("reach", connects("127.0.0.1", loopback.port), trusted=False)
    result, message = run(build, "host", book)
    assert result == "SUCCESS", message
    assert verdicts(build.text()) == ["ALLOWED"]
    assert loopback.accepted == 1


def _processes_with(needle: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if needle in cmdline:
                    found.append(f"{entry.name}: {cmdline}")
    return found


@needs_private
def test_canceled_untrusted_playbook_leaves_no_pasta_or_bwrap_behind(build: Build) -> None:
    nap = f"60.{uuid.uuid4().int % 10**9}"  # a sleep no other process runs
    book = build.book("long", task(f"shell: touch started && sleep {nap}"), trusted=False)
    cancel = threading.Event()
    outcome: list[tuple[str, str]] = []
    runner = threading.Thread(target=lambda: outcome.append(
        run(build, "private", book, cancel=cancel)))
    ours = str(build.private)  # in bwrap's and pasta's command lines
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not (build.work / "started").exists():
            assert runner.is_alive() and time.monotonic() < deadline, build.text()[-2000:]
            time.sleep(0.05)
        running = _processes_with(ours)
        assert any(p.split()[1].endswith("pasta") for p in running), running
        assert any(p.split()[1].endswith("bwrap") for p in running), running
        assert _processes_with(f"sleep {nap}")
    finally:
        cancel.set()
        runner.join(30)
    assert [result for result, _ in outcome] == ["CANCELED"], outcome
    deadline = time.monotonic() + 10
    while (_processes_with(ours) or _processes_with(f"sleep {nap}")) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(ours) == [] and _processes_with(f"sleep {nap}") == []


def test_untrusted_playbook_without_pasta_is_an_error(
        build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: "/usr/bin/bwrap")
    monkeypatch.setattr(sandbox, "find_pasta", lambda: None)
    result, message = run(build, "private", build.book("any", task("command: 'true'"),
                                                       trusted=False))
    assert result == "ERROR"
    for words in ("pasta is not installed", "apt-get install passt",
                  "executor.sandbox_network"):
        assert words in message and words in build.text()


@needs_private
def test_untrusted_playbook_is_an_error_when_pasta_cannot_start(
        build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never run without the private network: the command does not start at all."""
    monkeypatch.setattr(sandbox, "PASTA_OPTIONS", (*sandbox.PASTA_OPTIONS, "--no-such-option"))
    book = build.book("any", task("command: touch ran"), trusted=False)
    result, message = run(build, "private", book)
    assert result == "ERROR"
    assert "the sandbox's private network (executor.sandbox_network: private) could not be " \
           "set up: pasta: " in message
    assert "no-such-option" in message  # pasta's own words
    assert _processes_with(str(build.private)) == []  # nothing waits to run later either
    time.sleep(2)
    assert not (build.work / "ran").exists()


def test_zuulish_yaml_setting_reaches_the_executor(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text("[]\n")
    (tmp_path / "zuulish.yaml").write_text("tenant_file: main.yaml\n"
                                           "executor: {sandbox_network: none}\n")
    aio = AllInOne(load_server_config(tmp_path / "zuulish.yaml"))
    try:
        assert aio.executor.sandbox_network == "none"
    finally:
        aio.store.dispose()
