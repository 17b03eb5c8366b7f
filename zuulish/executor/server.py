"""The executor: claims queued builds and runs them with ansible-runner.

Each run of a build gets ``<state>/builds/<id>-<attempt>/`` with ``work/`` (the local node's work
dir holding ``src/<host>/<project>`` checkouts), ``trusted/`` and
``untrusted/`` playbook checkouts and ``ansible/`` (ansible-runner's private
data dir). Logs go to ``<state>/logs/<id>/``, which the web server serves;
with an S3 log store they are uploaded there when the build ends, before its
result is recorded, and the local copy is removed (``logs/keep.py``).
A build with a local node runs its tasks in that node (``local_node.py``,
an isolated sandbox with process and memory limits, started ahead as a
spare), and has the node's directory ``<state>/builds/node-<random>/`` as
its build directory. Every build's directory has a disk limit
(``disk_limit.py``; past it the build ends in ``DISK_FULL``).

Every playbook runs in bubblewrap. Trusted ones see the build's trusted view
(``trusted_view.py``: those two directories, the build's SSH directory, the
operator's ``trusted_ro_paths`` / ``trusted_rw_paths``); with the preloaded
Ansible, the build gets a long-lived sandbox of that view, registered with the
zygote, which forks each trusted playbook into it; it ends with the build.

Each build runs in a thread of its own; ``workers`` bounds how many run at once.
A build paused by ``zuul.pause`` does not count while it waits, so the jobs that
depend on it can run even with one worker; when it resumes for its post-run, it
counts again (the executor may then run one more build than ``workers`` for a
while, rather than make a resumed build wait).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pygit2
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from zuulish.clock import Clock
from zuulish.config.yaml_loader import EncryptedValue
from zuulish.errors import UserError
from zuulish.executor import build_logs, leftovers
from zuulish.executor.ansible_run import JobLog, PlaybookRun, ansible_env
from zuulish.executor.ansible_zygote import AnsibleZygote
from zuulish.executor.disk_limit import RESULT as DISK_FULL
from zuulish.executor.disk_limit import DiskWatch
from zuulish.executor.disk_limit import message as disk_message
from zuulish.executor.facts import FACTS_DIR, SETUP_PHASE, BuildFacts, FactsError, LocalFacts
from zuulish.executor.job_roles import JobRoles
from zuulish.executor.job_vars import inventory, zuul_var
from zuulish.executor.local_node import (
    HOST_PATHS_VAR,
    NO_NODE,
    LocalNode,
    NodeError,
    NodeLimits,
    SpareNodes,
    node_gpus,
    refused_host_path,
)
from zuulish.executor.phases import DEFAULT_POST_TIMEOUT, run_phases
from zuulish.executor.playbook_context import playbook_context
from zuulish.executor.playbook_paths import check_playbook
from zuulish.executor.repo_checkouts import RepoCheckouts
from zuulish.executor.returned import (
    DEFAULT_MAX_RETURNED_BYTES,
    SECRET_MASK_MIN,
    read_returned,
    read_secret_data,
)
from zuulish.executor.safe_files import UnsafePath
from zuulish.executor.sandbox import DEFAULT_NETWORK, SandboxUnavailable
from zuulish.executor.secret_data import SealError, from_parents, literal, lowest, seal
from zuulish.executor.shown_paths import for_users
from zuulish.executor.ssh import BuildAgent, SshError, is_remote
from zuulish.executor.trusted_view import BuildSandbox, BuildView, git_alternates
from zuulish.executor.untrusted_vars import trusted_view, untrusted_summary
from zuulish.executor.workspace import (
    PreparedRepo,
    WorkspaceError,
    override_checkout,
    prepare_repo,
)
from zuulish.logs.keep import keep_build_logs
from zuulish.logs.stores import LogStores, make_log_stores
from zuulish.merger.credentials import GitCredentials
from zuulish.merger.repo_cache import RepoCache
from zuulish.metrics import ProcessMetrics
from zuulish.model import BuildResult, BuildState, FrozenJob
from zuulish.model.returned_data import child_jobs, merge_data
from zuulish.model.returned_data import retry as returned_retry
from zuulish.nodepool.holds import hold_or_release
from zuulish.nodepool.requests import attempts_of, retry_on_new_nodes
from zuulish.secrets import ProjectKeys, plain_values
from zuulish.store import BuildRow, NodeRow, Store
from zuulish.store import notify as channels
from zuulish.store.database import after_commit, away_reason, database_away

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
PAUSE_POLL_SECONDS = 0.5
#: the longest wait between tries to record a result while the database is away
RECORD_RETRY_SECONDS = 2.0
REFILL_POLL_SECONDS = 0.01  # how often a paused build looks whether its dependants are done


def _head(root: Path) -> str | None:
    """The commit checked out at ``root`` (None when it cannot be read)."""
    try:
        return str(pygit2.Repository(str(root)).head.target)
    except (pygit2.GitError, KeyError, ValueError):
        return None


def _roles_path(book: PlaybookRun) -> list[Path]:
    """A playbook's roles path, for ``zuul.playbook_context`` (empty when its paths
    break a rule: the build then ends when the playbook is checked)."""
    try:
        return check_playbook(book.playbook, None) + [role.path for role in book.roles]
    except UnsafePath:
        return []


class _BuildError(Exception):
    """The build cannot run (reported as ERROR with this message)."""


def _encrypted(data: Any) -> Any:
    """Turn the frozen job's JSON form of encrypted values back into EncryptedValue."""
    if isinstance(data, dict) and set(data) == {"pkcs1-oaep"}:
        return EncryptedValue(list(data["pkcs1-oaep"]))
    if isinstance(data, dict):
        return {k: _encrypted(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_encrypted(v) for v in data]
    return data


class Executor:
    def __init__(self, store: Store, state_dir: Path, clock: Clock, workers: int = 2,
                 name: str | None = None, canonical_hostname: str = "localhost",
                 keep_workspaces: bool = False, preload_ansible: bool = True,
                 private_key: Path | None = None, sandbox_network: str = DEFAULT_NETWORK,
                 max_returned_bytes: int = DEFAULT_MAX_RETURNED_BYTES,
                 trusted_ro_paths: tuple[Path, ...] = (),
                 trusted_rw_paths: tuple[Path, ...] = (),
                 node_limits: NodeLimits | None = None,
                 git_credentials: GitCredentials | None = None,
                 zone: str | None = None,
                 log_stores: LogStores | None = None,
                 metrics: ProcessMetrics | None = None):
        self.store = store
        self.metrics = metrics or ProcessMetrics()
        self.metrics.watch_executor(self.running_builds, lambda: self.workers)
        # where finished builds' logs are kept (logs.store; default this host's folder)
        self.log_stores = log_stores or make_log_stores(None, state_dir)
        # the executor zone it serves: it runs only builds whose nodes are of this zone
        # (None: only builds of unzoned nodes)
        self.zone = zone
        # the most bytes a build's results.json may hold (executor.max_returned_bytes)
        self.max_returned_bytes = max_returned_bytes
        # what trusted playbooks see besides their build (executor.trusted_*_paths)
        self.trusted_ro_paths = tuple(trusted_ro_paths)
        self.trusted_rw_paths = tuple(trusted_rw_paths)
        # processes, memory and disk of a build's local node; the disk limit also
        # bounds every build's work directory (disk_limit_per_job; <= 0: none)
        self.node_limits = node_limits or NodeLimits()
        # a local node started ahead of the build that takes it
        self.spare_nodes = SpareNodes(state_dir / "builds", self.node_limits, sandbox_network)
        # the facts of fresh local nodes, gathered in the first (facts.LocalFacts)
        self.local_facts = LocalFacts()
        # the key SSH uses for remote nodes (None: the executor user's default keys)
        self.private_key = private_key
        # the network of untrusted playbooks' sandboxes (private, host or none)
        self.sandbox_network = sandbox_network
        self.state_dir = state_dir
        self.clock = clock
        self.name = name or f"executor@{socket.gethostname()}"
        self.hostname = canonical_hostname
        # the cache fetches with the remotes' HTTP credentials (git_credentials)
        self.cache = RepoCache(state_dir / "executor-cache", credentials=git_credentials)
        self.keys = ProjectKeys(store, state_dir)
        self.workers = workers
        self.keep_workspaces = keep_workspaces
        self._running: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._paused: set[str] = set()  # builds that paused (zuul.pause) this run
        self._waiting: set[str] = set()  # builds paused now: they hold no worker slot
        self._stopping = False
        self._lock = threading.Lock()
        # A warm Ansible to fork trusted playbooks from, into each build's sandbox;
        # started with the first loop (it joins namespaces: as root only).
        self.zygote = (AnsibleZygote(state_dir / "ansible-zygote", ansible_env())
                       if preload_ansible and AnsibleZygote.usable() else None)

    def running_builds(self) -> int:
        """Builds that hold a worker slot now (paused builds hold none)."""
        with self._lock:
            return len(self._running) - len(self._waiting)

    # ----------------------------------------------------------- the loop
    def run_once(self) -> bool:
        if self.zygote is not None and not self._stopping:
            self.zygote.start()  # once; builds start cold until it is warm
        busy = self._check_cancels()
        with self._lock:
            free = self.workers - (len(self._running) - len(self._waiting))
        started = False
        while free > 0 and not self._stopping:
            build = self._claim()
            if build is None:
                break
            cancel = threading.Event()
            thread = threading.Thread(target=self._run_build, args=(build, cancel),
                                      name=f"build-{build.id[:12]}")
            with self._lock:
                if self._stopping:  # stop() has begun: leave the build to the next run
                    self._unclaim(build.id)
                    break
                self._running[build.id] = cancel
                self._threads[build.id] = thread
                thread.start()
            free -= 1
            busy = started = True
        if started:  # a build is running now: open status pages show it at once
            self.store.notifier.notify(channels.STATUS)
        return busy

    def _claim(self) -> BuildRow | None:
        with self.store.session() as s:
            zone = BuildRow.zone.is_(None) if self.zone is None else BuildRow.zone == self.zone
            row = s.scalars(select(BuildRow).where(BuildRow.state == BuildState.QUEUED, zone)
                            .order_by(BuildRow.priority, BuildRow.created_at).limit(1)
                            .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            now = self.clock.now()
            row.state, row.worker, row.started_at, row.heartbeat_at = \
                BuildState.RUNNING, self.name, now, now
            return row

    def _unclaim(self, build_id: str) -> None:
        with self.store.session() as s:
            row = s.get(BuildRow, build_id)
            if row is not None and row.state == BuildState.RUNNING and row.worker == self.name:
                row.state, row.worker, row.started_at = BuildState.QUEUED, None, None

    def _check_cancels(self) -> bool:
        """Heartbeat the builds running here; stop those cancelled, and those taken
        from this executor (declared dead while it was paused or cut off: they run
        elsewhere now, and what this run finds is discarded by ``_finish``)."""
        with self._lock:
            running = dict(self._running)
        if not running:
            return False
        with self.store.session() as s:
            rows = s.execute(select(BuildRow.id, BuildRow.cancel_requested, BuildRow.worker,
                                    BuildRow.state)
                             .where(BuildRow.id.in_(list(running)))).all()
            s.execute(update(BuildRow).where(BuildRow.id.in_(list(running)),
                                             BuildRow.worker == self.name)
                      .values(heartbeat_at=self.clock.now()))
        for build_id, cancel, worker, state in rows:
            if cancel or worker != self.name or state != BuildState.RUNNING:
                running[build_id].set()
        return False

    def abandon(self, old_name: str, new_name: str) -> None:
        """This executor was declared dead as ``old_name`` and lives on as ``new_name``:
        its builds were handed to others, so every run here stops, unrecorded."""
        self.name = new_name
        with self._lock:
            for cancel in self._running.values():
                cancel.set()
        log.error("executor %s: builds it was running are stopped; they run again "
                  "elsewhere", old_name)

    def stop(self, wait: bool = True) -> None:
        """Stop; builds cut short are queued again, to be re-run after a restart."""
        with self._lock:
            self._stopping = True
            for cancel in self._running.values():
                cancel.set()
            threads = list(self._threads.values())
        if wait:
            for thread in threads:
                thread.join()
        if self.zygote is not None:
            self.zygote.stop()
        self.spare_nodes.stop()

    # ---------------------------------------------------------- one build
    def _run_build(self, build: BuildRow, cancel: threading.Event) -> None:
        log_dir = self.state_dir / "logs" / build.id
        build_dir = self._attempt_dir(build)
        job_log: JobLog | None = None
        result, message, first_task = BuildResult.ERROR, "", None
        returned: dict[str, Any] | None = None
        sealed: str | None = None  # its zuul_return secret_data, sealed
        node: LocalNode | None = None
        try:
            job = FrozenJob.from_dict(build.frozen_job)
            try:
                secrets = self._decrypt_secrets(job, build.params)
            except UserError as exc:
                job_log = JobLog(log_dir)
                raise _BuildError(str(exc)) from None
            job_log = JobLog(log_dir, secrets=[v for data in secrets.values()
                                               for v in plain_values(data)])
            # a build with a local node has the node's directory as its build directory
            node = self._local_node(build.params)
            if node is not None:
                build_dir = node.build_dir
            result, message = self._execute(build, build_dir, job_log, cancel, secrets, node)
            # (read again after a pause: post-run may have returned more; its
            # problems were reported when it paused)
            refused: list[str] = []
            secret = read_secret_data(build_dir / "work", job_log,
                                      report=build.id not in self._paused,
                                      limit=self.max_returned_bytes)
            sealed = seal(self.keys.fernet, secret) if secret else None
            returned = read_returned(build_dir / "work", job_log,
                                     list(build.params.get("child_jobs") or []),
                                     report=build.id not in self._paused,
                                     files=build.params.get("files"),
                                     limit=self.max_returned_bytes, refused=refused)
            if refused:
                message = "; ".join(filter(None, [message, *refused]))
            first_task = job_log.first_task_started
        except (_BuildError, NodeError, SandboxUnavailable) as exc:
            result, message = BuildResult.ERROR, str(exc)
        except Exception as exc:  # a bug: the build errors, the executor carries on
            log.exception("build %s failed unexpectedly", build.id)
            result, message = BuildResult.ERROR, f"internal executor error: {exc!r}"
        finally:
            if node is not None:
                node.stop()  # (if _execute has not): every process of the build ends
            if job_log is not None:
                # what its playbooks wrote to zuul.executor.log_root, kept with its logs
                build_logs.collect(build_dir / "work", log_dir, job_log.write)
                if message and result != BuildResult.SUCCESS:
                    job_log.write(f"RESULT {result}: {message}")
                job_log.close()
            kept = keep_build_logs(self.log_stores.writer, build.id, log_dir)
            if kept.problem:
                message = "; ".join(filter(None, [message, kept.problem]))
            self._record(build, result, message, kept.log_path, first_task, returned, sealed)
            if kept.moved:
                shutil.rmtree(log_dir, ignore_errors=True)
            if not self.keep_workspaces:
                shutil.rmtree(build_dir, ignore_errors=True)
            with self._lock:
                self._running.pop(build.id, None)
                self._threads.pop(build.id, None)
                self._waiting.discard(build.id)
            self._paused.discard(build.id)
            self.store.notifier.notify(channels.SCHEDULER, channels.EXECUTOR,
                                       channels.LAUNCHER)

    def _attempt_dir(self, build: BuildRow) -> Path:
        """A directory of this attempt's own, ``<state>/builds/<id>-<attempt>`` (with
        ``.2``, ``.3``... when an earlier run of it was kept): a run never shares one
        with an earlier run of the same build."""
        root = self.state_dir / "builds"
        path, n = root / f"{build.id}-{build.attempt}", 1
        while path.exists():
            n += 1
            path = root / f"{build.id}-{build.attempt}.{n}"
        return path

    def clear_leftovers(self) -> None:
        """Before any build runs: end every process an earlier executor of this state
        directory left (``leftovers.kill``) and remove its build directories (kept
        with ``keep_workspaces``); raises UserError if a process cannot be ended."""
        builds = self.state_dir / "builds"
        left = leftovers.kill(builds)
        if left:
            listed = "; ".join(f"{pid}: {cmd[:120]}" for pid, cmd in sorted(left.items())[:5])
            raise UserError(f"processes of builds under {builds} are still running and "
                            f"cannot be ended ({listed}); not starting builds beside them")
        if self.keep_workspaces or not builds.is_dir():
            return
        for entry in builds.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def _decrypt_secrets(self, job: FrozenJob, params: dict[str, Any]) -> dict[str, Any]:
        """Variable name -> decrypted secret data, for the secrets this job may use."""
        out = {}
        for var, secret in job.secrets.items():
            connection = params.get("project_connections", {}).get(secret["project"], "")
            out[var] = self.keys.decrypt_data(connection, secret["project"],
                                              _encrypted(secret["data"]))
        return out

    def _local_node(self, params: dict[str, Any]) -> LocalNode | None:
        """The started local node of a build with one (None without): the spare, or
        one with the host paths of the build's local provider."""
        local = [n for n in params.get("nodes", [])
                 if (n.get("host_vars") or {}).get("ansible_connection") == "zuulish_local"]
        if not local:
            return None
        paths = sorted({str(p) for n in local
                        for p in (n.get("host_vars") or {}).get(HOST_PATHS_VAR) or ()})
        for path in paths:
            why = refused_host_path(Path(path), self.state_dir)
            if why is not None:
                raise _BuildError(f"the local node's host_paths: {why}")
        try:
            gpus = node_gpus([n.get("host_vars") or {} for n in local], self.state_dir)
        except ValueError as exc:
            raise _BuildError(f"the local node's GPUs: {exc}") from None
        return self.spare_nodes.take(tuple(Path(p) for p in paths), gpus)

    def _execute(self, build: BuildRow, build_dir: Path, job_log: JobLog,
                 cancel: threading.Event, secrets: dict[str, Any],
                 node: LocalNode | None = None) -> tuple[str, str]:
        params: dict[str, Any] = build.params
        job = FrozenJob.from_dict(build.frozen_job)
        work_root = build_dir / "work"
        work_root.mkdir(parents=True, exist_ok=True)
        job_log.write(f"Job {job.name} (build {build.id}, attempt {build.attempt}) for "
                      f"{params.get('project')} "
                      f"change {params.get('change')},{params.get('patchset')} in "
                      f"{params.get('tenant')}/{params.get('pipeline')}")
        remote = [n for n in params.get("nodes", []) if is_remote(n)]
        ssh_dir = Path(tempfile.mkdtemp(prefix="zuulish-ssh-")) if remote else None
        agent = BuildAgent(remote, self.private_key, ssh_dir) if remote else None
        warm: list[BuildSandbox] = []  # the build's warm trusted sandbox, once launched
        name = uuid.uuid4().hex  # its name with the zygote
        disk = None
        if self.node_limits.disk_limit_mb > 0:
            def exceeded() -> None:
                job_log.write(f"ERROR: {disk_message(self.node_limits.disk_limit_mb)}")
                cancel.set()
                if node is not None:
                    node.stop()  # a runaway writer ends at once
            # the whole build directory: the work dir, the playbook checkouts, and the data
            # dirs that untrusted playbooks write to
            disk = DiskWatch(build_dir, self.node_limits.disk_limit_mb, exceeded).start()
        done = threading.Event()
        if node is not None:  # the next build's node, started once this one's first task is
            threading.Thread(target=self._refill_when_started, args=(job_log, node, done),
                             name=f"refill-{build.id[:12]}", daemon=True).start()
        try:
            return self._run(build, job, build_dir, job_log, cancel, secrets, agent, warm,
                             name, node, disk)
        finally:
            done.set()
            if disk is not None:
                disk.stop()
            for box in warm:
                if self.zygote is not None:
                    self.zygote.unregister(name)
                box.stop()  # every process left in the sandbox ends with it
            if node is not None:
                node.stop()
            if agent is not None:
                agent.stop()

    def _refill_when_started(self, job_log: JobLog, node: LocalNode,
                             done: threading.Event) -> None:
        """Start a spare node like ``node`` once the build's first task has started (or
        the build ended): off the path of the build's start, and of the next one's."""
        while job_log.first_task_started is None and not done.wait(REFILL_POLL_SECONDS):
            pass
        if not self._stopping:
            self.spare_nodes.refill(node.host_paths)

    def _run(self, build: BuildRow, job: FrozenJob, build_dir: Path, job_log: JobLog,
             cancel: threading.Event, secrets: dict[str, Any], agent: BuildAgent | None,
             warm: list[BuildSandbox], name: str, node: LocalNode | None,
             disk: DiskWatch | None) -> tuple[str, str]:
        params: dict[str, Any] = build.params
        work_root = build_dir / "work"
        try:
            started = time.monotonic()
            repos = self._prepare_repos(params, work_root, job_log, job)
            # the build's trusted sandbox starts while the playbooks are checked out
            view = self._trusted_view(build_dir, build.id,
                                      agent.directory if agent is not None else None,
                                      repos, job)
            warm += self._launch_sandbox(view)
            books = self._playbooks(job, params, build_dir, repos, secrets)
            job_log.write(f"Workspace ready in {time.monotonic() - started:.2f}s")
            if node is not None:
                node.wait_ready()
                job_log.write(f"Local node ready (isolated; {node.limits_note})")
        except (WorkspaceError, NodeError, SandboxUnavailable) as exc:
            message = for_users(str(exc), build_dir, self.state_dir)
            job_log.write(f"ERROR: {message}")
            return BuildResult.ERROR, message
        # Zuul's precedence: data returned by the jobs this one depends on is below
        # the job's own vars (and so below host-vars, group-vars and extra-vars).
        parent_data = dict(params.get("parent_data") or {})
        variables = merge_data(parent_data, dict(job.vars))
        # (inside the work dir, as in Zuul: kept with the build's logs when it ends)
        build_logs.log_root(work_root).mkdir(exist_ok=True)
        variables["zuul"] = zuul_var(params, job, build.id, repos, work_root,
                                     build_logs.log_root(work_root), self.hostname,
                                     build.attempt)
        variables["zuul"]["playbook_context"] = playbook_context(
            books, build_dir, self.hostname, repos, _roles_path)
        try:  # zuul_return secret_data of the jobs this one depends on
            self._give_parent_secrets(params, job, variables, books, job_log)
        except SealError as exc:
            job_log.write(f"ERROR: {exc}")
            return BuildResult.ERROR, str(exc)
        inv = inventory(job, params.get("nodes", []), variables, work_root)
        facts, setup = self._facts(build_dir, inv, node, job_log)
        # what trusted playbooks get: untrusted values frozen and unsafe
        returned = {name for name, value in parent_data.items() if name not in job.vars
                    or (isinstance(value, dict) and isinstance(job.vars[name], dict))}
        summary = untrusted_summary(job, returned)
        if summary:
            job_log.write(summary)
        trusted_vars = trusted_view(job, inv, job.extra_vars, returned, job_log.write)
        phases = {phase: [b for b in books if b.phase == phase]
                  for phase in ("pre-run", "run", "post-run", "cleanup-run")}
        post_timeout = float(job.post_timeout or DEFAULT_POST_TIMEOUT)
        try:
            access = agent.start() if agent is not None else None
            if agent is not None:
                job_log.write(f"SSH to {', '.join(n['name'] for n in agent.nodes)} through "
                              "the build's ssh-agent")
            served = bool(warm) and self._register(warm[0], name)
            result = run_phases(
                build_dir / "ansible", phases["pre-run"], phases["run"], phases["post-run"],
                phases["cleanup-run"], inv, job.extra_vars, job_log, float(job.timeout),
                cancel, work_root, post_timeout=post_timeout,
                preload=(self.zygote.playbook_env(name, "")
                         if self.zygote is not None and served else None),
                after_run=lambda: self._pause_if_asked(build, work_root, job_log, cancel),
                ssh=access, attempts_left=build.attempt < attempts_of(build),
                sandbox_network=self.sandbox_network,
                returned_limit=self.max_returned_bytes, trusted_vars=trusted_vars,
                trusted=view.spec(),
                node_socket=node.socket_path if node is not None else NO_NODE,
                retry_returned=lambda: self._returned_retry(work_root, job_log),
                facts=facts, setup=setup)
            if disk is not None and disk.exceeded:
                return DISK_FULL, disk_message(self.node_limits.disk_limit_mb)
            hit = node.limits_hit() if node is not None else ""
            if hit and result[0] != BuildResult.SUCCESS:  # which rule the build broke
                job_log.write(hit)
                return result[0], f"{result[1]}: {hit}" if result[1] else hit
            return result
        except SshError as exc:
            return BuildResult.ERROR, str(exc)

    def _give_parent_secrets(self, params: dict[str, Any], job: FrozenJob,
                             variables: dict[str, Any], books: list[PlaybookRun],
                             job_log: JobLog) -> None:
        """The ``secret_data`` the jobs this one depends on returned, opened and given
        to each playbook as secrets are, with the lowest precedence (``secret_data``
        module); masked in the job log."""
        secret = from_parents(self.keys.fernet, params.get("parent_secret_data") or [])
        if not secret:
            return
        job_log.add_secrets(v for v in plain_values(secret) if len(v) >= SECRET_MASK_MIN)
        taken = {*variables, *job.extra_vars,
                 *(name for values in job.host_vars.values() for name in values),
                 *(name for values in job.group_vars.values() for name in values)}
        for book in books:
            given = lowest(secret, {*taken, *book.extra_vars})
            book.extra_vars = {**(literal(given) if book.trusted else given),
                               **book.extra_vars}
        job_log.write(f"secret_data of the jobs this one depends on: {', '.join(sorted(secret))}")

    def _returned_retry(self, work_root: Path, job_log: JobLog) -> bool | None:
        """The ``zuul.retry`` the build returned so far (None: none, or not a boolean)."""
        data = read_returned(work_root, job_log, [], report=False,
                             limit=self.max_returned_bytes)
        return returned_retry(data)[0]

    def _facts(self, build_dir: Path, inv: dict[str, Any], node: LocalNode | None,
               job_log: JobLog) -> tuple[BuildFacts, PlaybookRun | None]:
        """The build's fact caches (``facts.py``), with the facts of its local node's
        hosts; and the setup run that gathers the others' (None: none to gather)."""
        hosts = dict(inv.get("all", {}).get("hosts") or {})
        facts = BuildFacts(build_dir / "ansible", list(hosts))
        facts.seed_localhost()
        local = [name for name, host_vars in hosts.items() if isinstance(host_vars, dict)
                 and host_vars.get("ansible_connection") == "zuulish_local"]
        if node is not None and local:
            try:
                # (a GPU node's facts differ by its devices and their variables)
                gathered = self.local_facts.of(node.socket_path, node.work_dir,
                                               node.host_paths + node.gpus.devices
                                               + node.gpus.paths)
            except FactsError as exc:  # the setup run gathers them through Ansible
                job_log.write(f"The local node's facts could not be gathered directly: {exc}")
            else:
                for name in local:
                    facts.seed(name, gathered)
        missing = facts.missing()
        if not missing:
            return facts, None
        return facts, PlaybookRun(facts.setup_playbook(), SETUP_PHASE, True,
                                  path=f"gathering the facts of {', '.join(missing)}",
                                  root=facts.setup_dir)

    def _trusted_view(self, build_dir: Path, build_id: str, ssh_dir: Path | None,
                      repos: list[PreparedRepo], job: FrozenJob) -> BuildView:
        """What the build's trusted playbooks see (``trusted_view``): with the git
        object stores of its repositories and of its playbooks' and roles' projects."""
        (build_dir / "ansible" / "artifacts").mkdir(parents=True, exist_ok=True)
        (build_dir / "ansible" / FACTS_DIR).mkdir(mode=0o700, exist_ok=True)  # (bound)
        stores = git_alternates([r.path for r in repos], self.cache.root)
        for project in job.content_projects():  # its playbooks' and roles' projects
            with contextlib.suppress(ValueError):  # a name the cache would refuse
                objects = self.cache.path(project) / "objects"
                if objects.is_dir() and objects not in stores:
                    stores.append(objects)
        return BuildView(build_dir, self.state_dir / "logs" / build_id, build_dir / "ansible",
                         ssh_dir, read_only=(*self.trusted_ro_paths, *stores),
                         read_write=self.trusted_rw_paths)

    def _launch_sandbox(self, view: BuildView) -> list[BuildSandbox]:
        """The build's long-lived trusted sandbox, launched (``_register`` waits for
        it); none without a warm zygote (trusted playbooks then start cold)."""
        if self.zygote is None or not self.zygote.wait_ready(0):
            return []
        box = BuildSandbox(view.spec())
        try:
            box.launch()
        except (SandboxUnavailable, OSError) as exc:
            log.warning("no warm trusted sandbox for %s: %s", view.build_dir.name, exc)
            return []
        return [box]

    def _register(self, box: BuildSandbox, name: str) -> bool:
        """Wait for ``box`` and register it with the zygote as ``name``."""
        assert self.zygote is not None
        try:
            box.wait_started()
            handles = box.handles()
        except (SandboxUnavailable, OSError) as exc:
            log.warning("no warm trusted sandbox: %s", exc)
            return False
        try:
            return self.zygote.register(name, handles)
        finally:
            for fd in handles.values():
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _pause_if_asked(self, build: BuildRow, work_root: Path, job_log: JobLog,
                        cancel: threading.Event) -> None:
        """Zuul's ``zuul.pause``: after a successful run phase, publish what the build
        returned and wait, still running but holding no worker slot, until every job
        that depends on it is done (or the build is canceled); then post-run goes on."""
        secret = read_secret_data(work_root, job_log, limit=self.max_returned_bytes)
        returned = read_returned(work_root, job_log,
                                 list(build.params.get("child_jobs") or []),
                                 files=build.params.get("files"),
                                 limit=self.max_returned_bytes)
        if not (returned and isinstance(returned.get("zuul"), dict)
                and returned["zuul"].get("pause") is True):
            return
        waiting = list(build.params.get("descendants") or [])
        self._paused.add(build.id)
        with self.store.session() as s:
            row = s.get(BuildRow, build.id)
            if row is None:
                return
            row.result_data, row.child_jobs = returned, child_jobs(returned)
            row.secret_result_data = seal(self.keys.fernet, secret) if secret else None
            row.paused, row.noticed = True, False
        with self._lock:
            self._waiting.add(build.id)
        self.store.notifier.notify(channels.SCHEDULER, channels.EXECUTOR)
        job_log.write("Paused (zuul_return zuul.pause): waiting for "
                      f"{', '.join(waiting) or 'no dependent jobs'} to finish")
        try:
            while waiting and not cancel.wait(PAUSE_POLL_SECONDS):
                if self._all_done(build.buildset_id, waiting):
                    break
        finally:
            with self._lock:
                self._waiting.discard(build.id)
        with self.store.session() as s:
            row = s.get(BuildRow, build.id)
            if row is not None:
                row.paused = False
        job_log.write("Resumed" if not cancel.is_set() else "Canceled while paused")

    def _all_done(self, buildset_id: int, jobs: list[str]) -> bool:
        """Whether each of ``jobs`` has a build in the build set and all are finished."""
        with self.store.read() as s:
            rows = s.execute(select(BuildRow.job, BuildRow.state).where(
                BuildRow.buildset_id == buildset_id, BuildRow.job.in_(jobs))).all()
        done = (BuildState.COMPLETED, BuildState.CANCELED)
        return {job for job, _ in rows} >= set(jobs) and all(st in done for _, st in rows)

    def _prepare_repos(self, params: dict[str, Any], work_root: Path, job_log: JobLog,
                       job: FrozenJob) -> list[PreparedRepo]:
        repos = []
        for project, state in sorted(params.get("repo_state", {}).items()):
            repo = prepare_repo(self.cache, project, state, work_root, self.hostname,
                                override_checkout(job, project))
            if repo.description == "zuul branch" and params.get("branch") \
                    and repo.branch != params["branch"]:
                repo = replace(repo, description="project default branch")
            job_log.write(f"Prepared {repo.src_dir} at {repo.commit[:12]} ({repo.branch}: "
                          f"{repo.description})")
            repos.append(repo)
        return repos

    def _playbooks(self, job: FrozenJob, params: dict[str, Any], build_dir: Path,
                   repos: list[PreparedRepo], secrets: dict[str, Any]) -> list[PlaybookRun]:
        """Each playbook of ``job`` from its checkout (``repo_checkouts``: the tested
        state for untrusted playbooks, branch tips for trusted ones), with its roles
        (``job_roles``); all made before anything of the build runs."""
        checkouts = RepoCheckouts(self.cache, build_dir, repos, params)
        roles = JobRoles(checkouts, build_dir, _head)
        runs = []
        for phase, refs in (("pre-run", job.pre_run), ("run", job.run),
                            ("post-run", job.post_run), ("cleanup-run", job.cleanup_run)):
            for ref in refs:
                given = {name: secrets[name] for name in ref.secrets if name in secrets}
                root = checkouts.root(ref.project, ref.trusted, ref.branch)
                runs.append(PlaybookRun(root / ref.path, phase, ref.trusted, extra_vars=given,
                                        path=ref.path, project=ref.project,
                                        commit=_head(root), roles=roles.for_playbook(ref)))
        return runs

    def _record(self, build: BuildRow, result: str, message: str, log_dir: Path | str,
                first_task: float | None, returned: dict[str, Any] | None = None,
                sealed: str | None = None) -> None:
        """``_finish``, tried again while the database is away (a build that ends
        during an outage keeps its result until it can be written; a run that is
        given up is found by the reaper and runs again). Gives up when the executor
        stops: the next run of the build records it."""
        wait, told = 0.1, False
        while True:
            try:
                self._finish(build, result, message, log_dir, first_task, returned, sealed)
            except DBAPIError as exc:
                if not database_away(exc):
                    raise
                if not told:
                    log.error("build %s: cannot record its result (%s) while the database "
                              "is away; trying again", build.id, away_reason(exc))
                    told = True
                if self._stopping:
                    log.error("build %s: the executor stops before the database answers; "
                              "its result (%s) is not recorded, it will run again",
                              build.id, result)
                    return
                time.sleep(wait)
                wait = min(RECORD_RETRY_SECONDS, wait * 2)
                continue
            if told:
                log.warning("build %s: its result (%s) is recorded", build.id, result)
            return

    def _finish(self, build: BuildRow, result: str, message: str, log_dir: Path | str,
                first_task: float | None, returned: dict[str, Any] | None = None,
                sealed: str | None = None) -> None:
        with self.store.session() as s:
            row = s.get(BuildRow, build.id, with_for_update=True)
            if row is None:
                return
            if row.worker != build.worker or row.state != BuildState.RUNNING \
                    or row.attempt != build.attempt:
                # declared dead while it ran (paused, cut off): the build was queued
                # again and runs (or ran) elsewhere; this run's result counts for nothing
                log.warning("build %s: attempt %d was taken from %s while it ran; its "
                            "result (%s) is discarded", build.id, build.attempt,
                            build.worker, result)
                return
            canceled = row.cancel_requested
            if self._stopping and not canceled:
                row.state, row.worker, row.started_at = BuildState.QUEUED, None, None
                row.message = "interrupted by an executor shutdown; will run again"
                return
            if result == BuildResult.NODE_FAILURE and not canceled and \
                    retry_on_new_nodes(s, row, self.clock.now(), message or "node lost"):
                return  # the node vanished: asked for new ones, to run again there
            if result == "RETRY" and not canceled:
                if row.attempt < attempts_of(row):
                    # a pre-run failure, a killed playbook: run again on the same nodes
                    row.attempt += 1
                    row.state, row.worker = BuildState.QUEUED, None
                    row.message = f"attempt {row.attempt - 1} will run again: {message}"
                    return
                result = BuildResult.RETRY_LIMIT
            row.state = BuildState.COMPLETED if not canceled else BuildState.CANCELED
            row.result = result if not canceled else BuildResult.CANCELED
            row.message = message or None
            row.finished_at = self.clock.now()
            # counted once written: a commit that fails is tried again (see _record)
            after_commit(s, self.metrics.build_finished, build.params.get("tenant"),
                         build.params.get("pipeline"), build.params.get("project"), row.job,
                         row.result, row.started_at, row.finished_at)
            row.first_task_at = first_task
            row.result_data = returned
            row.secret_result_data = sealed
            row.child_jobs = child_jobs(returned)
            row.paused, row.noticed = False, False
            row.log_path = str(log_dir)
            if row.node_request_id is not None:
                # used (the launcher deletes them), or held for an autohold request
                hold_or_release(s, row, s.scalars(select(NodeRow).where(
                    NodeRow.request_id == row.node_request_id,
                    NodeRow.state == "in-use")).all(), self.clock.now())
