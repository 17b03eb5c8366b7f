#!/usr/bin/env python3
"""The node launcher: request-to-ready latency per provider, and its throughput and
CPU cost per request over a busy in-memory cloud.

Everything runs over a real store (SQLite in a temporary directory, one database
per phase; ``--database-url`` for another database, whose node and request rows
this benchmark deletes before each phase).

**Latency** (``latency``): per provider, ``--requests`` one-node requests made one
after another, as the scheduler makes them (a ``NodeRequestRow``, then a wake-up of
the launcher), each finished (its node marked used, as the executor does) once it
is fulfilled; the figure is ``fulfilled_at - created_at`` of each (the launcher's
clock is the system's), after ``--warmup`` requests left out (the launcher's
first look at the cloud: flavors, quota, the leak sweep). The launcher runs as
``zuulish run`` runs it: a ``zuulish.service.Worker`` woken on the launcher's
channel, its provider calls on ``Calls``' threads, ``LauncherSettings()`` as they
default (a booting node is looked at once a second):

* ``local``: the executor-host pool provider (nothing to boot);
* ``static``: two sshd hosts in network namespaces (``tests/fakes/ssh_node.py``;
  root only), whose host keys the provider scans (``ssh-keyscan``) before each
  use, since it forgets a host's scan when the host is given back;
* ``podman``: real containers of the node image (``zuulish/nodepool/podman_image``;
  built when missing, which takes minutes), the real SSH check (``ssh-keyscan``);
  skipped, saying why, where podman cannot run or ``--no-podman``;
* ``aws`` (moto's server on 127.0.0.1, in this process) and ``openstack`` (the
  fake cloud, ``tests/fakes/openstack``, servers ACTIVE at their first look):
  there is no machine behind their instances, so the SSH check is stubbed to
  answer at once with a fixed host key. Their figures are the launcher's own
  overhead plus the driver's API round trips (boto3 / openstacksdk against a
  local HTTP server), not a cloud's boot time.

Each gives ``{"p50_ms", "p99_ms", "max_ms", "n"}`` or ``{"skipped": why}``.

**Throughput** (``throughput``): ``--tp-requests`` one-node requests (default
1,000), all waiting at the start, over an in-memory cloud
(``tests/fakes/memory_cloud.py``) whose boots are ready at the first look, with
``limits=Limits(instances=50)``; each request is finished as soon as it is
fulfilled, so its node is deleted and makes room for the next. The launcher runs
in the main thread (``run_once`` in a loop, waiting for a wake-up when idle; the
cloud calls on ``Calls``' threads). Figures: ``requests_per_s`` (wall clock),
``launcher_cpu_ms_per_request`` (``time.thread_time()`` around the ``run_once``
calls, the launcher's own thread; target: under 5 ms),
``process_cpu_ms_per_request`` (``resource.getrusage``: every thread, the
finishing of requests and the cloud calls included),
``sql_statements_per_request`` (those of the ``run_once`` calls: unlike CPU
time, not inflated by a busy machine), ``passes``, and ``cloud_creates`` (the
cloud's create calls: one per node made, unless the launcher creates twice).
``--profile FILE`` writes a cProfile of the throughput's ``run_once`` calls.

Run (as root for static nodes and podman)::

    .venv/bin/python benchmarks/nodepool_bench.py --requests 20 --tp-requests 1000

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, event, func, select, update  # noqa: E402

from tests.fakes.memory_cloud import Boot, MemoryCloud  # noqa: E402
from zuulish.clock import SystemClock  # noqa: E402
from zuulish.model.node import NodeState  # noqa: E402
from zuulish.model.node_request import NodeRequestState as RS  # noqa: E402
from zuulish.nodepool.calls import Calls  # noqa: E402
from zuulish.nodepool.cloud import CloudProvider, LabelSpec, ProviderSpec  # noqa: E402
from zuulish.nodepool.cloud_set import CloudSet  # noqa: E402
from zuulish.nodepool.launcher import Launcher, LauncherSettings, SshCheck  # noqa: E402
from zuulish.nodepool.local import LocalProvider  # noqa: E402
from zuulish.nodepool.provider import Provider  # noqa: E402
from zuulish.nodepool.resources import Limits  # noqa: E402
from zuulish.nodepool.ssh_check import check_ssh  # noqa: E402
from zuulish.service import Worker  # noqa: E402
from zuulish.store import NodeRequestRow, NodeRow, Store  # noqa: E402
from zuulish.store import notify as channels  # noqa: E402

FAKE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8rJkhvZ9u1dBm1tBzSpV8Dm3jyqAxnKx9Ayk9hY9xE"
LIVE = (NodeState.REQUESTED, NodeState.BUILDING, NodeState.READY, NodeState.IN_USE,
        NodeState.USED, NodeState.DELETING, NodeState.FAILED)


def answers_at_once(host: str, port: int, timeout: float, scan: bool) -> list[str]:
    """The SSH check for fake clouds: no machine is there; it answers at once."""
    return [FAKE_HOST_KEY] if scan else []


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(seconds: list[float]) -> dict[str, Any]:
    return {"p50_ms": round(statistics.median(seconds) * 1000, 1),
            "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
            "max_ms": round(max(seconds) * 1000, 1), "n": len(seconds)}


class Stores:
    """A fresh store per phase: a new SQLite file, or ``url`` emptied of nodes and
    requests."""

    def __init__(self, directory: Path, url: str | None):
        self.directory = directory
        self.url = url
        self.count = 0

    @contextlib.contextmanager
    def fresh(self) -> Iterator[Store]:
        self.count += 1
        store = Store(self.url or f"sqlite:///{self.directory}/phase{self.count}.db")
        store.upgrade()
        if self.url:
            with store.session() as s:
                s.execute(delete(NodeRow))
                s.execute(delete(NodeRequestRow))
        try:
            yield store
        finally:
            store.dispose()


# ------------------------------------------------------------------ latency
class Running:
    """A launcher served by a Worker thread, as ``zuulish run`` serves it."""

    def __init__(self, store: Store, pools: list[Provider], clouds: list[CloudProvider],
                 ssh_check: SshCheck):
        self.store = store
        notifier = store.notifier
        self.launcher = Launcher(store, pools, SystemClock(), clouds=CloudSet(clouds),
                                 calls=Calls(lambda: notifier.notify(channels.LAUNCHER)),
                                 settings=LauncherSettings(), ssh_check=ssh_check)
        self.worker = Worker("launcher", self.launcher.run_once, notifier,
                             channels.LAUNCHER, 0.2)
        self.worker.start()

    def request(self, label: str) -> int:
        with self.store.session() as s:
            req = NodeRequestRow(build_id=uuid.uuid4().hex, labels=[label], priority=100,
                                 created_at=time.time(), tenant="bench")
            s.add(req)
            s.flush()
            request_id = req.id
        self.store.notifier.notify(channels.LAUNCHER)
        return request_id

    def wait(self, request_id: int, timeout: float) -> float:
        """Seconds from the request to its fulfilment (the launcher's own stamps)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.store.read() as s:
                req = s.get(NodeRequestRow, request_id)
                assert req is not None
                if req.state == RS.FULFILLED:
                    return float(req.fulfilled_at) - req.created_at
                if req.state not in (RS.REQUESTED, RS.PENDING):
                    raise RuntimeError(f"request {request_id} {req.state}: {req.error}")
            self.store.notifier.wait(channels.SCHEDULER, 0.05)
        raise RuntimeError(f"request {request_id} not fulfilled within {timeout:g} s")

    def finish(self, request_id: int) -> None:
        with self.store.session() as s:
            s.execute(update(NodeRow).where(NodeRow.request_id == request_id,
                                            NodeRow.state == NodeState.IN_USE)
                      .values(state=NodeState.USED))
        self.store.notifier.notify(channels.LAUNCHER)

    def drain(self, timeout: float) -> None:
        """Wait until every node is deleted (nothing left in the cloud)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.store.read() as s:
                if not s.scalar(select(func.count()).select_from(NodeRow)
                                .where(NodeRow.state.in_(LIVE))):
                    return
            time.sleep(0.1)
        logging.warning("nodes still not deleted after %g s", timeout)

    def stop(self) -> None:
        self.worker.stop()
        self.worker.join(5)
        self.launcher.close()


def measure(stores: Stores, label: str, requests: int, warmup: int, timeout: float,
            pools: list[Provider] = (), clouds: list[CloudProvider] = (),  # type: ignore
            ssh_check: SshCheck = answers_at_once) -> dict[str, Any]:
    with stores.fresh() as store:
        running = Running(store, list(pools), list(clouds), ssh_check)
        try:
            seconds = []
            for i in range(warmup + requests):
                request_id = running.request(label)
                took = running.wait(request_id, timeout)
                if i >= warmup:
                    seconds.append(took)
                running.finish(request_id)
            if clouds:
                running.drain(timeout)
            return figures(seconds)
        finally:
            running.stop()


def local_latency(stores: Stores, args: argparse.Namespace) -> dict[str, Any]:
    return measure(stores, "local", args.requests, args.warmup, 30,
                   pools=[LocalProvider("local", ("local",), max_nodes=4)])


def static_latency(stores: Stores, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.fakes.ssh_node import SshNodes, missing_requirements
    from zuulish.nodepool.static import StaticProvider, parse_hosts

    why_not = missing_requirements()
    if why_not is not None:
        return {"skipped": why_not}
    nodes = SshNodes(tmp / "static", count=2)
    try:
        config = nodes.provider_config(["static"])
        provider = StaticProvider("static", parse_hosts({"nodes": config["nodes"]}, "static"))
        return measure(stores, "static", args.requests, args.warmup, 60, pools=[provider])
    finally:
        nodes.close()


def podman_latency(stores: Stores, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    if args.no_podman:
        return {"skipped": "--no-podman"}
    from tests.fakes.podman_image import missing_requirements
    from zuulish.nodepool.podman import make
    from zuulish.nodepool.podman_image import DEFAULT_NAME, ImageBuildError, ensure_image

    why_not = missing_requirements()
    if why_not is not None:
        return {"skipped": why_not}
    try:
        image = ensure_image(DEFAULT_NAME)
    except ImageBuildError as error:
        return {"skipped": f"the podman node image cannot be built: {error}"}
    key = tmp / "podman_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    spec = ProviderSpec("pod", "podman", {"public-key": f"{key}.pub"}, {}, {
        "debian": LabelSpec("debian", {}, {"name": "bookworm", "image-name": image.name},
                            {"name": "small", "cpus": 1, "memory": 512})})
    provider = make(spec, f"bench-{uuid.uuid4().hex[:10]}")
    result = measure(stores, "debian", args.podman_requests, args.warmup, 120,
                     clouds=[provider], ssh_check=check_ssh)
    if image.built:
        result["image_build_s"] = round(image.seconds, 1)
    return result


def aws_latency(stores: Stores, args: argparse.Namespace) -> dict[str, Any]:
    from tests.fakes.moto_server import MotoServer
    from zuulish.nodepool import drivers

    try:
        moto = MotoServer().start()
    except ImportError as error:
        return {"skipped": f"moto is not installed: {error}"}
    # moto's request log, and its traceback for GetAWSDefaultServiceQuota, which it
    # does not implement (the driver then takes the quota as unknown)
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    try:
        moto.client("ec2").create_key_pair(KeyName="zuul")
        image = {"name": "amazon-linux", "username": "ec2-user",
                 "image-filters": [{"name": "name",
                                    "values": ["amzn2-ami-hvm-2.0.*-x86_64-gp2"]}]}
        spec = ProviderSpec("aws", "aws", moto.connection(), {}, {"small": LabelSpec(
            "small", {"key-name": "zuul"}, image,
            {"name": "small", "instance-type": "t3.medium"})})
        provider = drivers.driver("aws").make(spec, f"bench-{uuid.uuid4().hex[:8]}")
        return measure(stores, "small", args.requests, args.warmup, 60, clouds=[provider])
    finally:
        moto.stop()


def openstack_latency(stores: Stores, args: argparse.Namespace) -> dict[str, Any]:
    from tests.fakes.openstack import FakeOpenStack
    from tests.fakes.openstack.state import Behaviour
    from zuulish.nodepool import drivers

    cloud = FakeOpenStack()
    provider = None
    try:
        cloud.add_flavor("m1.small", 2, 2048, 20)
        cloud.add_image("ubuntu-noble")
        cloud.default_behaviour = Behaviour(build_polls=1)  # ACTIVE at the first look
        spec = ProviderSpec("os", "openstack", {
            "driver": "openstack", "auth-url": cloud.auth_url, "username": "zuul",
            "password": "secret", "project-name": "demo", "user-domain-name": "Default",
            "project-domain-name": "Default", "region-name": "RegionOne"},
            {"networks": ["private"]}, {"small": LabelSpec(
                "small", {}, {"name": "ubuntu-noble"}, {"name": "m1.small"})})
        provider = drivers.driver("openstack").make(spec, f"bench-{uuid.uuid4().hex[:8]}")
        return measure(stores, "small", args.requests, args.warmup, 60, clouds=[provider])
    finally:
        if provider is not None:
            provider.close()  # type: ignore[attr-defined]
        cloud.close()


# ------------------------------------------------------------------ throughput
def throughput(stores: Stores, args: argparse.Namespace) -> dict[str, Any]:
    cloud = MemoryCloud(name="memory", limits=Limits(instances=args.tp_nodes))
    cloud.default = Boot(looks=1)
    with stores.fresh() as store:
        notifier = store.notifier
        launcher = Launcher(store, [], SystemClock(), clouds=CloudSet([cloud]),
                            calls=Calls(lambda: notifier.notify(channels.LAUNCHER)),
                            settings=LauncherSettings(), ssh_check=answers_at_once)
        now = time.time()
        with store.session() as s:
            s.add_all(NodeRequestRow(build_id=f"b{i}", labels=["small"], priority=100,
                                     created_at=now, tenant="bench")
                      for i in range(args.tp_requests))
        profile = cProfile.Profile() if args.profile else None
        statements = [0]
        in_pass = [False]

        def count(*_: Any) -> None:
            if in_pass[0] and threading.get_ident() == main_thread:
                statements[0] += 1
        main_thread = threading.get_ident()
        event.listen(store.engine, "before_cursor_execute", count)
        launcher_cpu = 0.0
        passes = 0
        fulfilled = 0
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        deadline = started + args.tp_timeout
        try:
            while fulfilled < args.tp_requests:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"throughput: {fulfilled} of {args.tp_requests} "
                                       f"requests fulfilled within {args.tp_timeout:g} s")
                cpu0 = time.thread_time()
                in_pass[0] = True
                if profile is not None:
                    profile.enable()
                busy = launcher.run_once()
                if profile is not None:
                    profile.disable()
                in_pass[0] = False
                launcher_cpu += time.thread_time() - cpu0
                passes += 1
                with store.session() as s:  # the executor: each build ends at once
                    done = s.execute(update(NodeRow).where(NodeRow.state == NodeState.IN_USE)
                                     .values(state=NodeState.USED)).rowcount
                fulfilled += done
                if not busy and not done:
                    notifier.wait(channels.LAUNCHER, 0.2)
            elapsed = time.monotonic() - started
            usage1 = resource.getrusage(resource.RUSAGE_SELF)
            with store.read() as s:
                states = dict(s.execute(select(NodeRequestRow.state, func.count())
                                        .group_by(NodeRequestRow.state)).all())
                peak = s.scalar(select(func.count()).select_from(NodeRow))
        finally:
            launcher.close()
        if profile is not None:
            profile.dump_stats(args.profile)
        process_cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
        n = args.tp_requests
        return {"requests": n, "nodes": args.tp_nodes,
                "requests_per_s": round(n / elapsed, 1), "seconds": round(elapsed, 2),
                "launcher_cpu_ms_per_request": round(launcher_cpu * 1000 / n, 2),
                "process_cpu_ms_per_request": round(process_cpu * 1000 / n, 2),
                "sql_statements_per_request": round(statements[0] / n, 1),
                "passes": passes, "request_states": states, "nodes_made": peak,
                "cloud_creates": sum(1 for call, _ in cloud.calls if call == "create")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20,
                        help="requests per provider for the latencies (default 20)")
    parser.add_argument("--podman-requests", type=int, default=5,
                        help="requests for podman's latency (default 5)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="first requests per provider left out (default 1)")
    parser.add_argument("--tp-requests", type=int, default=1000)
    parser.add_argument("--tp-nodes", type=int, default=50)
    parser.add_argument("--tp-timeout", type=float, default=600.0)
    parser.add_argument("--only", default="local,static,podman,aws,openstack,throughput",
                        help="comma-separated phases to run")
    parser.add_argument("--no-podman", action="store_true")
    parser.add_argument("--database-url", help="instead of SQLite in a temporary directory "
                        "(its node and request rows are deleted)")
    parser.add_argument("--profile", help="write a cProfile of the throughput's passes here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    only = set(args.only.split(","))
    out: dict[str, Any] = {"database": "sqlite" if not args.database_url else
                           args.database_url.split(":", 1)[0], "cpus": os.cpu_count(),
                           "load1": round(os.getloadavg()[0], 2), "latency": {}}
    with tempfile.TemporaryDirectory(prefix="nodepool-bench-") as tmp_name:
        tmp = Path(tmp_name)
        stores = Stores(tmp, args.database_url)
        phases: dict[str, Callable[[], dict[str, Any]]] = {
            "local": lambda: local_latency(stores, args),
            "static": lambda: static_latency(stores, args, tmp),
            "podman": lambda: podman_latency(stores, args, tmp),
            "aws": lambda: aws_latency(stores, args),
            "openstack": lambda: openstack_latency(stores, args),
        }
        for name, phase in phases.items():
            if name in only:
                out["latency"][name] = phase()
        if "throughput" in only:
            out["throughput"] = throughput(stores, args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
