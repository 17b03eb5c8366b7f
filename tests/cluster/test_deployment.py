"""The whole deployment as processes: two schedulers, three executors (one on a
"remote" host — a network namespace that reaches the rest only over the network and
sees none of their directories — serving its own zone), two mergers, a launcher and
two webs. Developers clone and push over HTTP with their tokens; the active scheduler
and a merger are killed between changes; every change merges once."""

from __future__ import annotations

import re
import signal
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.cluster.test_failover import _merged, _success_reports
from tests.fakes.cluster import Cluster, RemoteHost
from tests.fakes.forge_http import git
from tests.fakes.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer, moto_server
from tests.fakes.ssh_node import missing_requirements
from tests.fakes.tcp_proxy import TcpProxy
from zuulish.cli import main
from zuulish.runner import free_port
from zuulish.store import BuildRow, ChangeRow, ComponentRow

__all__ = ["moto_server"]  # the fixture

APP = """
- nodeset:
    name: remote
    nodes:
      - name: box
        label: remote-node
- job:
    name: on-remote
    parent: run-shell
    nodeset: remote
    vars:
      command: "test -f README && echo remote-build-ran"
- job:
    name: anywhere
    parent: run-shell
    vars:
      command: "true"
- project:
    queue: shared
    gate:
      jobs: [on-remote, anywhere]
"""


def test_a_deployment_across_hosts_merges_through_kills(
        tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str],
        moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    why = missing_requirements()
    if why:
        pytest.fail(f"the remote host needs network namespaces: {why}")
    ports = [free_port(), free_port()]
    providers = [{"name": "local", "driver": "local", "labels": ["local"]},
                 {"name": "remote", "driver": "local", "labels": ["remote-node"],
                  "zone": "remote"}]
    cluster = Cluster(tmp_path, pg_url, {"org/app": {".zuul.yaml": APP, "README": "hi\n"}},
                      providers=providers)
    remote = RemoteHost(tmp_path, hidden=[cluster.tenant.config.state_dir])
    db_for_remote = TcpProxy(cluster.proxy.target, host=remote.host_ip).start()
    # build logs in an object store (moto's S3), which the remote host reaches by proxy
    for key, value in (("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    moto_server.client("s3").create_bucket(Bucket="deployment-logs")
    s3_for_remote = TcpProxy(("127.0.0.1", int(moto_server.url.rsplit(":", 1)[1])),
                             host=remote.host_ip).start()
    try:
        cluster.base["logs"] = {"store": "s3", "bucket": "deployment-logs",
                                "endpoint_url": moto_server.url, "region": "us-east-1"}
        forge_url = f"http://{remote.host_ip}:{ports[0]}/git"
        cluster.base["connections"]["forge"].update(url=forge_url, plain_http=True)
        cluster.base["web"] = {"listen": f"0.0.0.0:{ports[0]}",
                               "url": f"http://127.0.0.1:{ports[0]}"}
        base_config = cluster.config_for("admin", own_state=False)
        assert main(["-c", str(base_config), "user", "create", "dev"]) == 0
        token = re.findall(r"zuulish_\S+", capsys.readouterr().out)[0]

        procs = [cluster.start("scheduler"), cluster.start("scheduler"),
                 cluster.start("merger"), cluster.start("merger"), cluster.start("launcher"),
                 cluster.start("web"),
                 cluster.start("web", web={"listen": f"0.0.0.0:{ports[1]}",
                                           "url": f"http://127.0.0.1:{ports[1]}"}),
                 cluster.start("executor"), cluster.start("executor")]
        remote_url = cluster.proxied_url.replace(f"127.0.0.1:{cluster.proxy.port}",
                                                 f"{remote.host_ip}:{db_for_remote.port}")
        console = f"{remote.ip}:{free_port()}"
        far = cluster.start("executor", name="remote-executor", wrap=remote.wrap(),
                            database=remote_url,
                            executor={"zone": "remote", "console_listen": console,
                                      "console_url": f"http://{console}"},
                            logs={"endpoint_url": f"http://{remote.host_ip}:"
                                                  f"{s3_for_remote.port}"})
        for proc in [*procs, far]:
            cluster.wait_running(proc)

        # a developer's machine: clone from the second web, push for review over HTTP
        work = tmp_path / "dev"
        clone_url = f"http://dev:{token}@127.0.0.1:{ports[1]}/git/org/app.git"
        git(tmp_path, "clone", "-q", clone_url, str(work))
        numbers = []
        for i, kill in enumerate((False, True)):
            if kill:  # the active scheduler and a merger die between the changes
                active = cluster.active_scheduler()
                assert active is not None
                active.signal(signal.SIGKILL)
                next(p for p in procs if p.kind == "merger").signal(signal.SIGKILL)
            (work / f"f{i}.txt").write_text(f"{i}\n")
            git(work, "add", "-A")
            git(work, "commit", "-q", "-m",
                f"Change {i}\n\nChange-Id: I{i:040d}\n")
            pushed = git(work, "push", "origin", "HEAD:refs/for/main")
            assert "remote:" in pushed.stderr or pushed.returncode == 0
            sha = git(work, "rev-parse", "HEAD").stdout.strip()
            with cluster.store.read() as s:
                change = s.scalars(select(ChangeRow).where(ChangeRow.commit_sha == sha)).one()
            assert change.owner == "dev"
            numbers.append(change.number)
            cluster.tenant.approve(change.number)
            cluster.wait_for(lambda n=change.number: _merged(cluster, n), 180,
                             f"change {change.number} to merge")
            git(work, "pull", "-q", "--rebase", "origin", "main")

        far_id = cluster.component_id(far)
        with cluster.store.read() as s:  # where webs reach its live console
            assert s.get(ComponentRow, far_id).address == f"http://{console}"
        with cluster.store.read() as s:
            builds = s.scalars(select(BuildRow).where(BuildRow.state == "completed")).all()
        remote_builds = [b for b in builds if b.job == "on-remote"]
        assert len(remote_builds) == 2 and all(b.result == "SUCCESS" for b in remote_builds)
        assert {b.worker for b in remote_builds} == {far_id}
        assert all(b.worker != far_id for b in builds if b.job == "anywhere")
        for i, n in enumerate(numbers):
            assert cluster.tenant.branch_file("org/app", f"f{i}.txt") == f"{i}\n"
            assert _success_reports(cluster, n) == 1
        for port in ports:  # every web serves the same tenants, and any build's log
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/tenants") as answer:
                assert answer.status == 200 and b'"t"' in answer.read()
            log_url = f"http://127.0.0.1:{port}/logs/{remote_builds[0].id}/job-output.txt"
            with urllib.request.urlopen(log_url) as answer:
                assert b"remote-build-ran" in answer.read()
        assert all(b.log_path.startswith("s3://deployment-logs/") for b in builds)
    finally:
        cluster.stop()
        db_for_remote.stop()
        s3_for_remote.stop()
        remote.close()
