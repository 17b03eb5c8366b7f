"""A build's Ansible facts: gathered once per build, cached for the build only.

As Zuul does, every build gathers its nodes' facts once, before its first
playbook, with the setup module's minimal subset (``gather_subset: ['!all']``:
the user and its home directory, the python, the distribution, the platform,
the environment, the date...), and keeps them in a fact cache of its own
(Ansible's ``jsonfile`` cache), with Ansible's ``gathering = smart``: a play
that asks for facts finds them there and does not gather again.

- Local nodes (``zuulish_local``): Ansible's setup module runs in a fresh node
  through its agent (``gather_local``). Fresh local nodes with the same host
  paths are alike but for their home directory (the work dir) and the time, so
  ``LocalFacts`` gathers them in the first such node an executor starts, and
  gives every later one those facts with its own home directory and the time of
  its build (``refresh_date_time``, Ansible's own date and time collector, on
  the same clock): the setup module's half a second of CPU is spent once, not
  on every build's start.
- Other nodes (SSH): a setup run, the playbook ``SETUP_PLAYBOOK`` as a trusted
  playbook of zuulish's own, before pre-run, bounded by ``SETUP_TIMEOUT``.
  A node it cannot reach ends the build in NODE_FAILURE (the build runs again
  on new nodes), any other failure in RETRY, as Zuul reschedules a build whose
  setup failed; no other playbook runs then.

Where the facts live, and who may write them (``BuildFacts``):

- ``<build>/ansible/facts/`` is the cache of the setup and of trusted
  playbooks: bound read-write into their sandbox only, so what they set with
  ``set_fact: cacheable: true`` reaches the later trusted playbooks;
- every untrusted playbook gets a fresh cache in its own data directory,
  written by the executor before it starts: the trusted cache's facts, then
  what earlier untrusted playbooks set (``cacheable``) on top; what it leaves
  there is read back (``safe_files``: no link is followed, bounded in size,
  JSON objects only) and kept for the later untrusted playbooks only.

So facts flow from trusted playbooks to untrusted ones, never back: nothing an
untrusted playbook sets or writes into its cache reaches a trusted playbook.
(Ansible also marks every fact it loads from a cache unsafe, ``wrap_var`` in
its variable manager, so a cached fact is never evaluated as a template; the
separate caches keep an untrusted playbook from even choosing a trusted one's
facts, ``ansible_user_dir`` say.) A build's caches lie in its own directory,
removed with it: no build sees another's facts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from ansible.module_utils.facts.system.date_time import DateTimeFactCollector

from zuulish.executor import node_agent, safe_files

GATHER_SUBSET = ("!all",)  # Zuul's: the setup module's minimal set of facts
SETUP_TIMEOUT = 60.0  # seconds for the setup run (Zuul's default setup_timeout)
MAX_FACTS_BYTES = 4 * 1024 * 1024  # the most one host's cache file may hold
FACTS_DIR = "facts"  # the trusted cache, in the build's data dir
SETUP_PHASE = "setup"  # the setup run's phase (its tasks are not the job's)
GATHERED = "_ansible_facts_gathered"  # what ``gathering = smart`` looks for
LOCALHOST = "localhost"  # Ansible's implicit host: the executor
# What Ansible's settings add for every playbook run (``ansible_run.ANSIBLE_ENV``
# has ``ANSIBLE_GATHERING: smart``): the jsonfile cache, in the directory given.
CACHE_PLUGIN = "jsonfile"
SETUP_PLAYBOOK = f"""\
# zuulish's setup run: gather the facts of the nodes that have none cached
- hosts: all
  gather_facts: true
  gather_subset: {json.dumps(list(GATHER_SUBSET))}
  tasks: []
"""
# A host name Ansible's jsonfile cache can use as a file name.
_CACHE_NAME = re.compile(r"^[A-Za-z0-9_.:@+-]{1,200}$")


class FactsError(Exception):
    """A local node's facts could not be gathered."""


def gather_local(socket_path: Path, python: str, timeout: float = SETUP_TIMEOUT
                 ) -> dict[str, Any]:
    """The facts of the local node whose agent listens at ``socket_path``: Ansible's
    setup module (``GATHER_SUBSET``) run there with ``python``, as Ansible would run
    it; with ``_ansible_facts_gathered`` set, as Ansible's gather step sets it."""
    args = json.dumps({"ANSIBLE_MODULE_ARGS": {"gather_subset": list(GATHER_SUBSET),
                                               "gather_timeout": int(timeout)}})
    try:
        # -I: nothing of the node's work dir (the cwd) or environment is imported
        rc, out, err = node_agent.run(str(socket_path),
                                      f"exec {_quote(python)} -I -m ansible.modules.setup",
                                      args.encode(), cwd="/")
    except node_agent.AgentError as exc:
        raise FactsError(str(exc)) from None
    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    facts = answer.get("ansible_facts") if isinstance(answer, dict) else None
    if rc != 0 or not isinstance(facts, dict) or answer.get("failed"):
        said = (err.decode(errors="replace").strip().splitlines() or [""])[-1]
        raise FactsError(f"the setup module failed on the local node (exit {rc}) {said}"
                         .rstrip())
    return {**facts, GATHERED: True}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def refresh_date_time(facts: dict[str, Any]) -> dict[str, Any]:
    """``facts`` with ``ansible_date_time`` as of now (a local node shares the
    executor's clock; its facts may have been gathered before the build began)."""
    if "ansible_date_time" not in facts:
        return facts
    now = DateTimeFactCollector().collect().get("date_time")
    return {**facts, "ansible_date_time": now} if now else facts


def cache_name(host: str) -> str | None:
    """The file name of ``host`` in a jsonfile cache, or None when the name cannot
    be one (such a host gets no cached facts: Ansible gathers them itself)."""
    if not _CACHE_NAME.match(host) or host in (".", ".."):
        return None
    return host


def _write_json(directory: Path, name: str, data: dict[str, Any]) -> None:
    """Write ``data`` as ``directory/name``, replacing (never following) what is there."""
    path = directory / name
    tmp = directory / f".{name}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data))
    os.replace(tmp, path)


def _read_cache(root: Path, directory: str, hosts: list[str],
                refused: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """What the jsonfile cache ``root/directory`` holds for ``hosts`` (files and a
    directory a playbook may have replaced: read through ``safe_files``, so no link
    below ``root`` is followed; what is not a JSON object is skipped, and said in
    ``refused``)."""
    found: dict[str, dict[str, Any]] = {}
    for host in hosts:
        name = cache_name(host)
        if name is None:
            continue
        try:
            data = json.loads(safe_files.read_bytes(root, f"{directory}/{name}",
                                                     MAX_FACTS_BYTES))
        except safe_files.Missing:
            continue
        except (safe_files.UnsafePath, ValueError) as exc:
            if refused is not None:
                refused.append(f"the facts cached for {host} were ignored: {exc}")
            continue
        if isinstance(data, dict):
            found[host] = data
        elif refused is not None:
            refused.append(f"the facts cached for {host} were ignored: not a JSON object")
    return found


def _changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in after.items() if k not in before or before[k] != v}


class BuildFacts:
    """One build's fact caches (module docstring): the trusted cache directory, and
    what untrusted playbooks see, kept by the executor."""

    def __init__(self, private_dir: Path, hosts: list[str]) -> None:
        self.trusted_dir = private_dir / FACTS_DIR
        self.trusted_dir.mkdir(parents=True, exist_ok=True)
        self.trusted_dir.chmod(0o700)
        self.setup_dir = private_dir / "setup"
        self.nodes = list(hosts)
        # and Ansible's implicit localhost (the executor), as Zuul seeds it: the
        # date and time, and marked gathered (a play does not gather the executor's)
        self.hosts = [*self.nodes, *([] if LOCALHOST in self.nodes else [LOCALHOST])]
        self._trusted_seen: dict[str, dict[str, Any]] = {}
        self._untrusted: dict[str, dict[str, Any]] = {}

    def seed(self, host: str, facts: dict[str, Any]) -> None:
        """Cache ``facts`` (gathered by the executor) for ``host``, for every playbook."""
        name = cache_name(host)
        if name is None:
            return
        _write_json(self.trusted_dir, name, facts)
        self._carry(host, facts)

    def seed_localhost(self) -> None:
        """Cache the implicit localhost's facts: the executor's date and time only."""
        if LOCALHOST not in self.nodes:
            self.seed(LOCALHOST, refresh_date_time(
                {"ansible_date_time": {}, "module_setup": True, GATHERED: True}))

    def missing(self) -> list[str]:
        """The hosts with no gathered facts in the trusted cache (before the first
        playbook: what ``seed`` put there)."""
        return [h for h in self.nodes if not self._trusted_seen.get(h, {}).get(GATHERED)]

    def setup_playbook(self) -> Path:
        """The setup run's playbook (written in the build's data dir, which its
        trusted sandbox sees)."""
        self.setup_dir.mkdir(parents=True, exist_ok=True)
        path = self.setup_dir / "setup.yaml"
        path.write_text(SETUP_PLAYBOOK)
        return path

    def trusted_env(self) -> dict[str, str]:
        """Ansible's settings for a trusted playbook (or the setup run)."""
        return {"ANSIBLE_CACHE_PLUGIN": CACHE_PLUGIN,
                "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(self.trusted_dir.absolute())}

    def after_trusted(self) -> None:
        """Carry what a trusted playbook (or the setup) changed in its cache to the
        facts untrusted playbooks see."""
        for host, facts in _read_cache(self.trusted_dir.parent, self.trusted_dir.name,
                                       self.hosts).items():
            self._carry(host, facts)

    def _carry(self, host: str, facts: dict[str, Any]) -> None:
        """Note the trusted cache's ``facts`` of ``host``; what changed there since it
        was last seen goes to the facts untrusted playbooks see."""
        changed = _changed(self._trusted_seen.get(host, {}), facts)
        if changed:
            self._untrusted.setdefault(host, {}).update(changed)
        self._trusted_seen[host] = facts

    def untrusted_env(self, run_dir: Path) -> dict[str, str]:
        """Write a fresh cache for one untrusted playbook into ``run_dir/facts`` (its
        data dir, new for the run); Ansible's settings for it."""
        directory = run_dir / "facts"
        directory.mkdir(mode=0o700)
        for host, facts in self._untrusted.items():
            name = cache_name(host)
            if name is not None:
                _write_json(directory, name, facts)
        return {"ANSIBLE_CACHE_PLUGIN": CACHE_PLUGIN,
                "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(directory.absolute())}

    def after_untrusted(self, run_dir: Path) -> list[str]:
        """Keep what an untrusted playbook changed in its cache, for later untrusted
        playbooks only; returns why cache files were ignored."""
        refused: list[str] = []
        seeded = {h: dict(f) for h, f in self._untrusted.items()}
        for host, facts in _read_cache(run_dir, "facts", self.hosts, refused).items():
            changed = _changed(seeded.get(host, {}), facts)
            if changed:
                self._untrusted.setdefault(host, {}).update(changed)
        return refused


class LocalFacts:
    """The facts of fresh local nodes, per set of host paths (module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[Path, ...], tuple[str, str]] = {}  # -> (home, facts)

    def of(self, socket_path: Path, home: Path, host_paths: tuple[Path, ...] = ()
           ) -> dict[str, Any]:
        """The facts of the fresh node at ``socket_path`` whose home is ``home``;
        FactsError when they cannot be gathered."""
        with self._lock:
            known = self._known.get(host_paths)
        if known is None:
            gathered = gather_local(socket_path, sys.executable)
            with self._lock:
                self._known.setdefault(host_paths, (str(home), json.dumps(gathered)))
            return refresh_date_time(gathered)
        old, text = known
        # the other node's home, wherever it shows (ansible_user_dir, ansible_env.HOME)
        text = text.replace(json.dumps(old)[1:-1], json.dumps(str(home))[1:-1])
        return refresh_date_time(json.loads(text))
