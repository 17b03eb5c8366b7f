"""Run a job of the standard library (``jobs/``) the way the executor does.

The library's ``zuul.yaml`` is loaded as the trusted config project
``zuulish-jobs`` next to an untrusted project ``org/demo`` whose ``.zuul.yaml``
defines one job, ``demo``, inheriting from the library job under test. The job
is frozen by the real config code; the ``zuul`` variable and the inventory come
from the executor's own ``job_vars``; the node is a local-provider node, isolated
as the executor isolates it (``LocalNode``); and the
phases run through real ansible-runner with ``run_phases``, as
``Executor._execute`` does. Only the store, merger and scheduler are left out:
the frozen job makes the same JSON round trip as through the store; the
project checkout is made here, a git repository at the node's
``src/localhost/org/demo`` (so the base job's pre-run check of the commit is real).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zuulish.config.freeze import freeze_job
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.config.validate import ANY_DRIVER, AnyConnection, generic_trigger
from zuulish.executor.ansible_run import JobLog, PlaybookRun
from zuulish.executor.job_vars import inventory, zuul_var
from zuulish.executor.local_node import HOST_PATHS_VAR, LocalNode, node_gpus
from zuulish.executor.phases import DEFAULT_POST_TIMEOUT, run_phases
from zuulish.executor.returned import result_file
from zuulish.executor.workspace import PreparedRepo
from zuulish.model import FrozenJob
from zuulish.model.project import JobReference
from zuulish.nodepool.local import LocalProvider

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"
LIBRARY = "zuulish-jobs"
PROJECT = "org/demo"
HOSTNAME = "localhost"
GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z", "PATH": "/usr/bin:/bin"}


@dataclass
class JobRun:
    """What a user sees of one build: its result, its log and its log directory."""

    result: str
    message: str
    output: str  # job-output.txt
    log_dir: Path
    project_dir: Path  # the checkout on the node
    returned: dict[str, Any] | None = None  # what it returned with zuul_return


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def make_checkout(work_root: Path, files: dict[str, str]) -> tuple[Path, str]:
    """``org/demo`` with ``files`` committed, at its Zuul ``src_dir``; (path, commit)."""
    path = work_root / "src" / HOSTNAME / PROJECT
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "Fixture project")
    return path, _git(path, "rev-parse", "HEAD")


def run_library_job(tmp: Path, parent: str, files: dict[str, str],
                    variables: dict[str, Any] | None = None,
                    host_paths: tuple[Path, ...] = (), provider: LocalProvider | None = None,
                    label: str = "local") -> JobRun:
    """Build job ``demo`` (``parent: <parent>``, ``vars: variables``) on ``files``,
    on an isolated local node that also sees ``host_paths`` (read-only): a node
    of ``label`` from ``provider`` (a plain local provider unless given), whose
    host paths and GPUs the node gets as the executor gives them."""
    demo = [{"job": {"name": "demo", "parent": parent, "vars": variables or {}}}]
    config = TenantConfig("demo", [TenantProject("", LIBRARY, True),
                                   TenantProject("", PROJECT, False)])
    loader = ConfigLoader(config, AnyConnection(), {ANY_DRIVER: generic_trigger},
                          open_pipelines=True)
    layout = loader.build({
        LIBRARY: ("main", {"zuul.yaml": (JOBS_DIR / "zuul.yaml").read_text()}),
        PROJECT: ("main", {".zuul.yaml": yaml.safe_dump(demo)})})
    assert layout.errors == [], layout.errors
    frozen = freeze_job(layout, JobReference("demo"), PROJECT, "main")
    # The scheduler stores the frozen job as JSON and the executor reads it back.
    job = FrozenJob.from_dict(json.loads(json.dumps(frozen.to_dict())))

    work_root = tmp / "build" / "work"
    log_root = tmp / "logs" / "build-1"
    project_dir, commit = make_checkout(work_root, files)
    repos = [PreparedRepo(PROJECT, project_dir, f"src/{HOSTNAME}/{PROJECT}", "main", commit)]
    params = {"project": PROJECT, "branch": "main", "tenant": "demo", "pipeline": "check",
              "change": 1, "patchset": 1, "buildset": "buildset-1"}
    job_variables = dict(job.vars)
    job_variables["zuul"] = zuul_var(params, job, "build-1", repos, work_root, log_root,
                                     HOSTNAME, 1)
    provider = provider or LocalProvider("local")
    node = provider.launch(label)
    assert node is not None, f"the provider has no {label} node to give"
    host_paths = (*host_paths, *(Path(p) for p in node.host_vars.get(HOST_PATHS_VAR, ())))
    gpus = node_gpus([node.host_vars], tmp / "state")
    nodes = [{"name": spec.name, "label": spec.label, "hostname": node.hostname,
              "host_vars": node.host_vars, "id": f"node-{i}", "provider": "local"}
             for i, spec in enumerate(job.nodeset.nodes)]
    inv = inventory(job, nodes, job_variables, work_root)

    books: dict[str, list[PlaybookRun]] = {}
    for phase, refs in (("pre-run", job.pre_run), ("run", job.run),
                        ("post-run", job.post_run), ("cleanup-run", job.cleanup_run)):
        root = {LIBRARY: JOBS_DIR, PROJECT: project_dir}
        books[phase] = [PlaybookRun(root[ref.project] / ref.path, phase, ref.trusted)
                        for ref in refs]
    job_log = JobLog(log_root)
    with LocalNode(tmp / "build", f"library-{uuid.uuid4().hex[:12]}",
                   host_paths=host_paths, gpus=gpus) as local:
        local.wait_ready()
        result, message = run_phases(
            tmp / "build" / "ansible", books["pre-run"], books["run"], books["post-run"],
            books["cleanup-run"], inv, job.extra_vars, job_log, float(job.timeout), None,
            work_root, post_timeout=float(job.post_timeout or DEFAULT_POST_TIMEOUT),
            node_socket=local.socket_path)
    job_log.close()
    provider.release(node.hostname, node.host_vars)
    returned_file = result_file(work_root)
    # what the job returned with zuul_return (results.json's "data", Zuul's shape)
    returned = json.loads(returned_file.read_text())["data"] if returned_file.is_file() \
        else None
    return JobRun(result, message, (log_root / "job-output.txt").read_text(), log_root,
                  project_dir, returned)
