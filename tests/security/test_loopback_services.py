"""Refused before issue 15, kept so nothing reopens: a build reaches services
that listen on the executor's loopback: PostgreSQL (127.0.0.1:5432, where the
tests' server runs) and a TCP service the test opens on 127.0.0.1. Tried from
the node (a shell task, ``wait_for``), from ansible-playbook's own sandbox (a
``pipe`` lookup, a ``url`` lookup), and through the private network's gateway
address (which pasta would map to the host's loopback without ``--no-map-gw``).

Every try is refused: the listener never sees a connection.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import pytest

from tests.fakes.loopback import Listener
from tests.security.attacks import Attack, AttackRun, run_attacks
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()
# long: its one attack run (a module fixture) is shared by all its tests; started first,
# they stay on one xdist worker, so the run is not repeated on the other.
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

# Connects to 127.0.0.1, localhost and the default gateway on each port given;
# prints "<target> REACHED" or "<target> DENIED".
PROBE = """import socket, sys
gateways = []
for line in open('/proc/net/route').read().splitlines()[1:]:
    fields = line.split()
    if fields[1] == '00000000' and fields[2] != '00000000':
        gateways.append(socket.inet_ntoa(bytes.fromhex(fields[2])[::-1]))
for port in sys.argv[1:]:
    for host in ['127.0.0.1', 'localhost', *gateways]:
        try:
            socket.create_connection((host, int(port)), 3).close()
            print(host, port, 'REACHED')
        except OSError:
            print(host, port, 'DENIED')
print('PROBED')
"""


def _attacks(port: int) -> list[Attack]:
    ports = f"{port} 5432"
    head = "- hosts: all\n  gather_facts: false\n  tasks:\n"
    on_node = f"{sys.executable} {{{{ zuul.project.src_dir }}}}/probe.py {ports}"
    on_controller = f"{sys.executable} {{{{ playbook_dir }}}}/../probe.py {ports}"
    wait_for = "".join(f"    - wait_for: {{host: 127.0.0.1, port: {p}, timeout: 2}}\n"
                       "      ignore_errors: true\n" for p in (port, 5432))
    url = "".join("    - debug:\n        msg: \"URL[{{ lookup('url', 'http://127.0.0.1:"
                  f"{p}/', errors='ignore', timeout=3) }}}}]\"\n" for p in (port, 5432))
    return [
        Attack("from-the-node", {"playbooks/from-the-node.yaml":
                                 head + f"    - shell: {on_node}\n"}),
        Attack("from-the-controller", {"playbooks/from-the-controller.yaml": head + (
            "    - debug:\n        msg: \"{{ lookup('pipe', '" + on_controller + "') }}\"\n")}),
        Attack("wait-for-on-node", {"playbooks/wait-for-on-node.yaml":
                                    head + wait_for + "    - debug: {msg: WAITED}\n"}),
        Attack("url-lookup", {"playbooks/url-lookup.yaml": head + url}),
    ]


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AttackRun, Listener]]:
    listener = Listener()
    try:
        for run in run_attacks(tmp_path_factory.mktemp("loopback"), _attacks(listener.port),
                               extra_files={"probe.py": PROBE}):
            yield run, listener
    finally:
        listener.close()


def test_postgres_is_listening_here() -> None:
    """The attack means something only where PostgreSQL listens on the loopback."""
    try:
        socket.create_connection(("127.0.0.1", 5432), 3).close()
    except OSError:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 here")


@pytest.mark.parametrize("name", ["from-the-node", "from-the-controller"])
def test_loopback_services_are_out_of_reach(attack: tuple[AttackRun, Listener],
                                            name: str) -> None:
    outcome, listener = attack
    build, log = outcome.build(name), outcome.log(name)
    assert build.result == "SUCCESS", (build.result, build.message, log[-3000:])
    assert "PROBED" in log, log[-3000:]
    assert "REACHED" not in log, log[-3000:]
    for target in ("127.0.0.1 5432", f"127.0.0.1 {listener.port}", "localhost 5432"):
        assert f"{target} DENIED" in log, (target, log[-3000:])
    assert not listener.reached.is_set()


def test_wait_for_and_the_url_lookup_time_out(attack: tuple[AttackRun, Listener]) -> None:
    outcome, listener = attack
    waited, fetched = outcome.log("wait-for-on-node"), outcome.log("url-lookup")
    assert outcome.build("wait-for-on-node").result == "SUCCESS", waited[-3000:]
    assert waited.count("...ignoring") == 2 and "msg: WAITED" in waited, waited[-3000:]
    assert outcome.build("url-lookup").result == "SUCCESS", fetched[-3000:]
    assert fetched.count("msg: URL[]") == 2, fetched[-3000:]
    assert not listener.reached.is_set()
