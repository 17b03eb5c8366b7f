"""Attack 6: a sandbox reached the preloaded Ansible's socket, which forked
``ansible-playbook`` on the host as root.

From inside an untrusted playbook's sandbox (through the real executor), no
Unix socket of the executor can be found or connected to: not the zygote's
(``<state>/ansible-zygote/zygote.sock``, tried by name), nor any other found
by searching the whole file system. And should a sandbox reach the socket
anyway, the zygote refuses it (``SO_PEERCRED``: another mount namespace, or
another user), as it refuses a request for a sandbox it does not hold.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.tenant import GateTenant
from zuulish.executor.ansible_run import ansible_env
from zuulish.executor.ansible_zygote import AnsibleZygote, peer_refusal
from zuulish.executor.sandbox import find_bwrap, unavailable

MISSING = unavailable()
needs_sandbox = pytest.mark.skipif(MISSING is not None,
                                   reason=f"{MISSING} (.ci/run installs it for CI)")

# Connects to each socket named on the command line (or found under / when none
# is), sends a zygote request and prints what happened to each.
CONNECT = textwrap.dedent("""\
    import json, os, socket, sys
    paths = sys.argv[1:]
    if not paths:
        for root, dirs, files in os.walk("/"):
            dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys")]
            for name in files:
                path = os.path.join(root, name)
                try:
                    if os.path.exists(path) and (os.lstat(path).st_mode & 0o170000) == 0o140000:
                        paths.append(path)
                except OSError:
                    pass
    print("SOCKETS", json.dumps(paths))
    for path in paths:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            s.connect(path)
        except OSError as exc:
            print("NO-CONNECT", path, exc.strerror)
            continue
        request = json.dumps({"argv": ["--version"], "cwd": "/", "env": dict(os.environ),
                              "sandbox": "x"}).encode() + b"\\n"
        try:
            socket.send_fds(s, [request], [0, 1, 2])
        except OSError:
            pass
        try:
            print("CONNECTED", path, s.recv(4096).decode().strip())
        except OSError as exc:
            print("CONNECTED", path, exc.strerror)
""")

PROJECT = """
- job:
    name: socket-hunt
    run: playbooks/hunt.yaml
- project:
    check:
      jobs: [socket-hunt]
"""


def _hunt(zygote_socket: Path) -> str:
    script = json.dumps(CONNECT)
    return (
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - copy: {{content: {script}, dest: connect.py}}\n"
        f"    - command: python3 connect.py {zygote_socket}\n"
        "    - command: python3 connect.py\n"
        "    - debug: msg=\"{{ lookup('pipe', 'python3 ' ~ zuul.executor.work_root ~ '/connect.py "
        f"{zygote_socket}') }}}}\"\n")


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    zygote_socket = tmp_path / "state" / "ansible-zygote" / "zygote.sock"
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": PROJECT, "playbooks/hunt.yaml": _hunt(zygote_socket)}})
    t.start()
    yield t
    t.stop()


@pytest.mark.slow
@needs_sandbox
def test_no_executor_socket_is_reachable_from_an_untrusted_sandbox(tenant: GateTenant) -> None:
    zygote = tenant.aio.executor.zygote
    if zygote is None:
        pytest.skip("no preloaded Ansible here (root only)")
    assert zygote.wait_ready(60)
    assert zygote.socket_path.exists()  # it is there, on the host
    number = tenant.push("org/app", {"x.txt": "x\n"}, "Hunt for sockets")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", report.message
    [log] = [p for p in (tenant.config.state_dir / "logs").rglob("job-output.txt")
             if "hunt.yaml" in p.read_text()]
    text = log.read_text()
    assert text.count(f"NO-CONNECT {zygote.socket_path} No such file or directory") == 2, text
    assert "CONNECTED" not in text.replace("NO-CONNECT", ""), text
    found = [json.loads(line.split("SOCKETS ", 1)[1]) for line in text.splitlines()
             if "| SOCKETS [" in line and "connect.py" not in line]
    assert found and all(str(tenant.config.state_dir) not in p for p in found[-1]), found


# ------------------------------------------------------------ SO_PEERCRED
@pytest.fixture(scope="module")
def zygote() -> Iterator[AnsibleZygote]:
    if not AnsibleZygote.usable() or find_bwrap() is None:
        pytest.skip("the preloaded Ansible needs root and bwrap")
    # As if a bug had let others reach it: the directory and socket open to all.
    root = Path(tempfile.mkdtemp(prefix="zuulish-zygote-test-"))
    root.chmod(0o755)
    z = AnsibleZygote(root / "zygote", ansible_env())
    z.start()
    try:
        assert z.wait_ready(), (z.directory / "zygote.log").read_text()
        z.directory.chmod(0o755)
        z.socket_path.chmod(0o666)
        yield z
    finally:
        z.stop()
        shutil.rmtree(root, ignore_errors=True)


def _connect(z: AnsibleZygote, prefix: list[str], python: str = sys.executable) -> str:
    proc = subprocess.run([*prefix, python, "-I", "-c", CONNECT, str(z.socket_path)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **ansible_env()})
    return proc.stdout + proc.stderr


def test_the_zygote_refuses_a_process_in_another_mount_namespace(
        zygote: AnsibleZygote) -> None:
    """A sandbox that sees the socket (here bwrap binding the whole host) is refused."""
    out = _connect(zygote, [str(find_bwrap()), "--dev-bind", "/", "/", "--unshare-pid",
                            "--proc", "/proc", "--"])
    assert f"CONNECTED {zygote.socket_path}" in out, out
    assert '"refused": "the zygote serves only the executor (the caller is in another ' \
           'mount namespace: a sandbox)"' in out, out
    assert "pid" not in out.split("refused", 1)[1]  # nothing was forked


def test_the_zygote_refuses_another_user(zygote: AnsibleZygote) -> None:
    setpriv, python = "/usr/bin/setpriv", "/usr/bin/python3"
    if not (Path(setpriv).exists() and Path(python).exists()):
        pytest.skip("setpriv or the system's python3 is not installed")
    out = _connect(zygote, [setpriv, "--reuid", "65534", "--regid", "65534",
                            "--clear-groups", "--"], python)
    assert f"uid {os.geteuid()}), not uid 65534" in out, out


def test_the_zygote_answers_the_executor_but_forks_only_into_a_held_sandbox(
        zygote: AnsibleZygote) -> None:
    """Same user, same mount namespace: served, yet a sandbox it does not hold is
    declined (the client then starts cold, in a sandbox of its own)."""
    out = _connect(zygote, [])
    assert '"fallback": "the build\'s trusted sandbox is not registered with the zygote"' \
        in out, out


def test_peer_check_of_a_connection_in_this_process() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peer_refusal(a) is None
