"""A build's fact caches (``facts.BuildFacts``) and the facts of local nodes
(``facts.LocalFacts``): facts flow from the trusted cache to untrusted
playbooks' caches, never back, and nothing an untrusted playbook leaves in its
cache is read through a link."""

from __future__ import annotations

import json
import os
import pwd
import socket
import sys
import threading
from pathlib import Path

from zuulish.executor import node_agent
from zuulish.executor.facts import GATHERED, SETUP_PLAYBOOK, BuildFacts, LocalFacts


def _facts(tmp_path: Path) -> BuildFacts:
    facts = BuildFacts(tmp_path / "ansible", ["node"])
    facts.seed_localhost()
    facts.seed("node", {"ansible_user_dir": "/home/zuul", GATHERED: True})
    return facts


def _run_dir(tmp_path: Path, n: int) -> Path:
    run_dir = tmp_path / "ansible" / "untrusted" / f"run-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


def _read(directory: Path, host: str) -> dict:
    return json.loads((directory / host).read_text())


def test_an_untrusted_playbook_gets_a_fresh_copy_and_its_changes_stay_untrusted(
        tmp_path: Path) -> None:
    facts = _facts(tmp_path)
    first = _run_dir(tmp_path, 1)
    env = facts.untrusted_env(first)
    cache = Path(env["ANSIBLE_CACHE_PLUGIN_CONNECTION"])
    assert env["ANSIBLE_CACHE_PLUGIN"] == "jsonfile" and cache == first / "facts"
    assert _read(cache, "node")["ansible_user_dir"] == "/home/zuul"
    assert GATHERED in _read(cache, "localhost")  # a play does not gather the executor's
    # what the untrusted playbook's set_fact (cacheable) leaves there
    left = {**_read(cache, "node"), "ansible_user_dir": "/elsewhere",
            "said": "{{ lookup('pipe', 'id') }}"}
    (cache / "node").write_text(json.dumps(left))
    assert facts.after_untrusted(first) == []
    # the trusted cache (the setup's and trusted playbooks') never changes
    assert _read(facts.trusted_dir, "node") == {"ansible_user_dir": "/home/zuul",
                                                GATHERED: True}
    assert facts.trusted_env()["ANSIBLE_CACHE_PLUGIN_CONNECTION"] == str(facts.trusted_dir)
    # the next untrusted playbook sees them
    second = Path(facts.untrusted_env(_run_dir(tmp_path, 2))["ANSIBLE_CACHE_PLUGIN_CONNECTION"])
    assert _read(second, "node")["said"] == "{{ lookup('pipe', 'id') }}"
    assert _read(second, "node")["ansible_user_dir"] == "/elsewhere"


def test_what_a_trusted_playbook_caches_reaches_later_untrusted_ones(tmp_path: Path) -> None:
    facts = _facts(tmp_path)
    (facts.trusted_dir / "node").write_text(json.dumps(
        {**_read(facts.trusted_dir, "node"), "virtualenv_command": "python3 -m venv"}))
    facts.after_trusted()
    cache = Path(facts.untrusted_env(_run_dir(tmp_path, 1))["ANSIBLE_CACHE_PLUGIN_CONNECTION"])
    assert _read(cache, "node")["virtualenv_command"] == "python3 -m venv"


def test_a_link_left_in_an_untrusted_cache_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "state"
    secret.mkdir()
    (secret / "node").write_text(json.dumps({"stolen": "secret-value"}))
    facts = _facts(tmp_path)
    run_dir = _run_dir(tmp_path, 1)
    facts.untrusted_env(run_dir)
    (run_dir / "facts" / "node").unlink()
    (run_dir / "facts" / "node").symlink_to(secret / "node")
    refused = facts.after_untrusted(run_dir)
    assert len(refused) == 1 and "facts cached for node were ignored" in refused[0]
    # the whole directory swapped for a link
    other = _run_dir(tmp_path, 2)
    facts.untrusted_env(other)
    os.rename(other / "facts", other / "old")
    (other / "facts").symlink_to(secret)
    assert facts.after_untrusted(other)
    (other / "facts").unlink()
    (other / "facts").mkdir()
    (other / "facts" / "node").write_text("[1, 2]")
    assert "not a JSON object" in facts.after_untrusted(other)[0]
    cache = Path(facts.untrusted_env(_run_dir(tmp_path, 3))["ANSIBLE_CACHE_PLUGIN_CONNECTION"])
    assert "stolen" not in _read(cache, "node")


def test_only_nodes_without_gathered_facts_need_the_setup_run(tmp_path: Path) -> None:
    facts = BuildFacts(tmp_path / "ansible", ["a", "b", "../evil"])
    facts.seed_localhost()
    facts.seed("a", {GATHERED: True})
    facts.seed("../evil", {GATHERED: True})  # no file of that name is written
    assert facts.missing() == ["b", "../evil"]
    assert not (tmp_path / "evil").exists()
    assert facts.setup_playbook().read_text() == SETUP_PLAYBOOK
    assert "gather_subset: [\"!all\"]" in SETUP_PLAYBOOK


def test_fresh_local_nodes_get_the_first_ones_facts_with_their_own_home(
        tmp_path: Path) -> None:
    """The setup module runs once, in the first node (here an agent on the host);
    a later node gets those facts with its home and the time."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = tmp_path / "agent.sock"
    listener.bind(str(path))
    listener.listen(8)
    threading.Thread(target=node_agent.serve, args=(listener,), daemon=True).start()
    try:
        local = LocalFacts()
        home = Path(pwd.getpwuid(os.getuid()).pw_dir)
        first = local.of(path, home)
        assert first["ansible_user_dir"] == str(home)
        assert first["ansible_python"]["executable"] == sys.executable
        assert first["ansible_distribution"] and first[GATHERED] is True
        other = tmp_path / "node-2" / "work"
        listener.close()  # nothing more is gathered: the agent is gone
        second = local.of(path, other)
        assert second["ansible_user_dir"] == str(other)
        assert second["ansible_distribution"] == first["ansible_distribution"]
        assert second["ansible_date_time"]["epoch"] >= first["ansible_date_time"]["epoch"]
    finally:
        listener.close()
