"""Attacks 2 and 3a (issue 15): connection variables set by a job ran attacker
code in the trusted base pre-run (``host-vars: {node:
{ansible_python_interpreter: <a script in the change>}}``, ``vars:
{ansible_shell_executable: ...}``), and ``extra-vars: {zuul: ...}`` overrode
zuulish's own variables. Each is now a configuration error on the change, at
the variable's file and line, naming the rule; the script never runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.tenant import GateTenant

pytestmark = pytest.mark.slow

SCRIPT = "#!/bin/sh\ntouch {marker}\nexec python3 \"$@\"\n"
ATTACKS = {
    # attack 2: the base pre-run's modules would be started by the change's script
    "host-vars": ("    host-vars:\n      node:\n        ansible_python_interpreter: "
                  "./evil.sh\n", 6, "variable name 'ansible_python_interpreter' is not "
                  "allowed: connection variables"),
    "vars": ("    vars:\n      ansible_shell_executable: ./evil.sh\n", 5,
             "variable name 'ansible_shell_executable' is not allowed: connection "
             "variables"),
    # attack 3a: zuulish's own variables replaced
    "extra-vars": ("    extra-vars:\n      zuul:\n        project: {src_dir: /etc}\n", 5,
                   "variable name 'zuul' is reserved"),
}


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": "- project:\n    check:\n      jobs: [noop]\n"
                      "- job:\n    name: noop\n    parent: run-shell\n"}})
    t.start()
    yield t
    t.stop()


def test_connection_and_reserved_variables_are_refused_at_their_line(
        tenant: GateTenant, tmp_path: Path) -> None:
    for kind, (body, line, rule) in ATTACKS.items():
        marker = tmp_path / f"ran-{kind}"
        config = ("- job:\n    name: evil\n    parent: run-shell\n" + body
                  + "- project:\n    check:\n      jobs: [evil]\n")
        number = tenant.push("org/app", {".zuul.yaml": config,
                                         "evil.sh": SCRIPT.format(marker=marker)},
                             f"Attack through {kind}")
        report = tenant.wait_reported(number, "check", timeout=120)
        assert report.result == "CONFIG_ERROR", (kind, report.result, report.message)
        assert f"org/app/.zuul.yaml:{line}:" in report.message, (kind, report.message)
        assert rule in report.message, (kind, report.message)
        assert not marker.exists(), kind
