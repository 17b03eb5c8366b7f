"""Wire the components together: any of them in this process, over one store.

``zuulish run`` (all-in-one, the embedded mode) runs every component here;
``zuulish scheduler`` / ``executor`` / ``merger`` / ``launcher`` run one each, on
any number of hosts against one PostgreSQL database. It is the same code either
way: each component registers and heartbeats (``cluster/registry.py``), the
scheduler runs only while it holds the lease (``cluster/active_scheduler.py``),
and work held by a component that died is redone (``cluster/reaper.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from zuulish.clock import Clock, SystemClock
from zuulish.cluster.active_scheduler import ActiveScheduler
from zuulish.cluster.layout_sync import LayoutFollower
from zuulish.cluster.lease import SCHEDULER as SCHEDULER_LEASE
from zuulish.cluster.lease import Lease
from zuulish.cluster.reaper import Reaper, release_ended
from zuulish.cluster.registry import STOPPING, ComponentRegistry, live
from zuulish.cluster.schema import check_schema
from zuulish.drivers.git.intake import IntakeServer, serve_forges
from zuulish.drivers.registry import make_connections, trigger_parsers
from zuulish.drivers.timer.timer import Timer
from zuulish.errors import ConfigError
from zuulish.executor.console_server import ConsoleServer
from zuulish.executor.retention import DAY, LogRetention
from zuulish.executor.server import Executor
from zuulish.logs.stores import make_log_stores
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.worker import MergerWorker
from zuulish.metrics import MetricsServer, ProcessMetrics
from zuulish.nodepool.calls import Calls
from zuulish.nodepool.cloud import ProviderSpec
from zuulish.nodepool.cloud_set import LayoutClouds
from zuulish.nodepool.launcher import Launcher, LauncherSettings
from zuulish.nodepool.local import LocalProvider
from zuulish.nodepool.provider import Provider
from zuulish.nodepool.static import StaticProvider
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.scheduler.scheduler import Scheduler
from zuulish.server_config import ServerConfig
from zuulish.service import Worker
from zuulish.store import Store
from zuulish.store import notify as channels

log = logging.getLogger(__name__)


def make_providers(config: ServerConfig) -> list[Provider]:
    """The node providers the server configuration names, in its order."""
    providers: list[Provider] = []
    for p in config.providers:
        provider: Provider
        if p.driver == "static":
            provider = StaticProvider(p.name, list(p.options["hosts"]))
        else:
            gpu_options = {k: v for k, v in p.options.items() if k != "host_paths"}
            provider = LocalProvider(p.name, p.labels, p.max_nodes,
                                     tuple(p.options.get("host_paths", ())), **gpu_options)
        provider.zone = p.zone  # type: ignore[attr-defined]  # its nodes' executor zone
        providers.append(provider)
    return providers


def tenant_file_hash(config: ServerConfig) -> str | None:
    """A digest of the tenant file, which every scheduler of a deployment must share."""
    try:
        return hashlib.sha256(config.tenant_file.read_bytes()).hexdigest()
    except OSError:
        return None


KINDS = ("scheduler", "merger", "launcher", "executor")


class Components:
    """The components of this process (any of ``KINDS``) over one store.

    ``embedded``: the all-in-one mode, which upgrades the schema itself; a component
    of a distributed deployment refuses a schema other than its own instead."""

    def __init__(self, config: ServerConfig, kinds: tuple[str, ...] = KINDS,
                 clock: Clock | None = None, *, embedded: bool = True):
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown components: {sorted(unknown)}")
        self.config = config
        self.kinds = tuple(kinds)
        self.embedded = embedded
        self.clock = clock or SystemClock()
        self.metrics = ProcessMetrics()  # this process's counters (docs/metrics.md)
        self.metrics_server: MetricsServer | None = None
        try:
            config.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"state_dir: cannot create {config.state_dir}: "
                              f"{exc.strerror or exc}", file=str(config.path)) from exc
        # a transaction left idle as long as a silent component is declared dead is
        # ended by PostgreSQL, with its row locks (a paused process holds none for good)
        self.store = Store(config.database,
                           idle_transaction_timeout=config.cluster.dead_after)
        if embedded:
            self.store.upgrade()
        else:
            check_schema(self.store, "/".join(self.kinds), str(config.path))
        # where finished builds' logs are kept (logs:), for the executor, retention, web
        self.log_stores = make_log_stores(config.logs, config.state_dir)
        self.connections = make_connections(config, self.store, self.clock)
        self.layouts = TenantLayouts(config.tenant_file, self.connections.drivers,
                                     self.connections.sources, trigger_parsers(),
                                     nodes=config.node_context())
        timing = config.cluster
        self.registries: dict[str, ComponentRegistry] = {}
        self.active: ActiveScheduler | None = None
        if "scheduler" in kinds:
            reg = self._registry("scheduler", config_hash=tenant_file_hash(config))
            self.lease = Lease(self.store, SCHEDULER_LEASE, reg.id, timing.lease)
            self.reaper = Reaper(self.store, timing)
            self.active = ActiveScheduler(self.store, self.layouts, self.lease, self.reaper,
                                          self._make_scheduler, self._make_timer)
        self.merger: MergerWorker | None = None
        if "merger" in kinds:
            self.merger = MergerWorker(
                self.store, RepoCache(config.state_dir / "merger-cache",
                                      max_bytes=config.merger_cache_max_bytes,
                                      credentials=self.connections.git_credentials),
                self.clock, timeout=config.merger_timeout,
                name=self._registry("merger").id, metrics=self.metrics)
        self.launcher: Launcher | None = None
        self.follower: LayoutFollower | None = None
        if "launcher" in kinds:
            self._registry("launcher")
            self.launcher = Launcher(
                self.store, make_providers(config), self.clock,
                clouds=LayoutClouds(self._node_provider_specs,
                                    lambda: self.launcher.system_id),  # type: ignore[union-attr]
                calls=Calls(lambda: self.store.notifier.notify(channels.LAUNCHER)),
                settings=LauncherSettings(tenant_limits=config.tenant_limits,
                                          tenant_weights=config.tenant_weights),
                metrics=self.metrics)
            if "scheduler" not in kinds:  # the layouts change in another process
                self.follower = LayoutFollower(self.store, self.layouts)
        self.executor: Executor | None = None
        self.retention: LogRetention | None = None
        self.console_server: ConsoleServer | None = None
        if "executor" in kinds:
            self.executor = Executor(
                self.store, config.state_dir, self.clock,
                workers=config.executor_workers,
                preload_ansible=config.executor_preload_ansible,
                private_key=config.executor_private_key,
                sandbox_network=config.executor_sandbox_network,
                max_returned_bytes=config.executor_max_returned_bytes,
                trusted_ro_paths=config.executor_trusted_ro_paths,
                trusted_rw_paths=config.executor_trusted_rw_paths,
                node_limits=config.executor_node_limits,
                git_credentials=self.connections.git_credentials,
                zone=config.executor_zone,
                name=self._registry("executor", zone=config.executor_zone,
                                    address=config.executor_console_url).id,
                log_stores=self.log_stores, metrics=self.metrics)
            if config.executor_console_listen is not None:
                # webs on other hosts follow this executor's builds' consoles here
                host, port = config.executor_console_listen
                self.console_server = ConsoleServer(self.store, config.state_dir, host, port,
                                                    url=config.executor_console_url)
            days = config.log_retention_days
            self.retention = LogRetention(self.store, config.state_dir, self.clock,
                                          None if days is None else days * DAY,
                                          stores=self.log_stores)
        self.workers: list[Worker] = []
        self.intake: IntakeServer | None = None

    # ------------------------------------------------------------ parts
    def _registry(self, kind: str, **fields: str | None) -> ComponentRegistry:
        reg = ComponentRegistry(self.store, kind, interval=self.config.cluster.heartbeat,
                                on_lost=lambda old: self._lost(kind, old), **fields)
        self.registries[kind] = reg
        return reg

    def _lost(self, kind: str, old: str) -> None:
        """The component ``kind`` was declared dead as ``old``; it lives on anew."""
        new = self.registries[kind].id
        if kind == "executor" and self.executor is not None:
            self.executor.abandon(old, new)
        elif kind == "merger" and self.merger is not None:
            self.merger.name = new
        elif kind == "scheduler" and self.active is not None:
            self.lease.holder = new

    def _make_scheduler(self) -> Scheduler:
        return Scheduler(self.store, self.clock, self.layouts, self.connections.sources,
                         self.connections.reporters, self.config.web_url,
                         metrics=self.metrics)

    def _make_timer(self) -> Timer:
        return Timer(self.store, self.clock, self.layouts, self.connections.sources)

    @property
    def scheduler(self) -> Scheduler:
        """This process's scheduler (its current term's, when it is active)."""
        if self.active is None or self.active.scheduler is None:
            raise RuntimeError("no scheduler runs in this process now")
        return self.active.scheduler

    @property
    def timer(self) -> Timer:
        if self.active is None or self.active.timer is None:
            raise RuntimeError("no scheduler runs in this process now")
        return self.active.timer

    # ------------------------------------------------------------ life
    def recover(self) -> None:
        """After a restart: nothing of a killed executor's builds may run beside their
        next attempts; work held by components that ended is released (by the reaper,
        at once for components of this process or this machine); pushes a hook left
        unrecorded are recorded."""
        if self.executor is not None:
            self.executor.clear_leftovers()
        mine = {reg.id for reg in self.registries.values()}
        release_ended(self.store, exclude=mine, pid=os.getpid())
        if "scheduler" in self.kinds:
            for forge in self.connections.forges.values():
                forge.recover_pending_pushes()

    def check_peers(self) -> None:
        """A scheduler refuses to start beside live schedulers that read another
        tenant file: they would plan the same queues by different rules."""
        reg = self.registries.get("scheduler")
        if reg is None or reg.config_hash is None:
            return
        for peer in live(self.store, "scheduler", self.config.cluster.dead_after):
            if peer.config_hash and peer.config_hash != reg.config_hash:
                raise ConfigError(
                    f"tenant_file: {self.config.tenant_file} differs from the tenant file "
                    f"of the running scheduler {peer.id} (on {peer.hostname}); every "
                    "scheduler of a deployment must read the same file: copy it to every "
                    "scheduler host and run `zuulish tenant reconfigure`",
                    file=str(self.config.path))

    def _check_zone(self) -> None:
        """Say so when this executor's zone has no node of zuulish.yaml's providers (a
        zone a config project's cloud provider serves is not known here)."""
        zone = self.config.executor_zone
        if self.executor is None or zone is None:
            return
        if not any(p.zone == zone for p in self.config.providers):
            log.warning("executor: no node provider of %s is in zone %r: this executor "
                        "runs only builds on nodes of that zone, from other providers",
                        self.config.path, zone)

    def start(self) -> None:
        if self.active is not None or self.launcher is not None:
            if self.follower is not None:
                self.follower.prime()
            self.layouts.load_all()  # first: a tenant file that cannot be read stops here
        self.check_peers()
        self._check_zone()
        self._serve_metrics()  # before anything that would need stopping
        self.store.notifier.listen(self.config.state_dir)
        if self.embedded and self.connections.forges:
            self.intake = serve_forges(self.config.path, self.connections.forges)
            self.intake.start()
        if self.console_server is not None:  # before the row that advertises it
            try:
                self.console_server.start()
            except OSError as exc:
                raise ConfigError(f"executor.console_listen: cannot listen on "
                                  f"{self.console_server.host}:{self.console_server.port}: "
                                  f"{exc.strerror or exc}", file=str(self.config.path)) from exc
        for reg in self.registries.values():
            reg.start()
        self.recover()
        if self.active is not None:
            for service in self.connections.services:
                service.start()
        poll = self.config.poll_interval
        notifier = self.store.notifier
        self.workers = []
        if self.active is not None:
            self.workers.append(Worker("scheduler", self.active.step, notifier,
                                       channels.SCHEDULER, poll))
        if self.merger is not None:
            self.workers.append(Worker("merger", self.merger.run_once, notifier,
                                       channels.MERGER, poll))
        if self.launcher is not None:
            self.workers.append(Worker("launcher", self._launch, notifier,
                                       channels.LAUNCHER, poll))
        if self.executor is not None:
            self.workers.append(Worker("executor", self._execute, notifier,
                                       channels.EXECUTOR, poll))
        for w in self.workers:
            w.start()

    def _serve_metrics(self) -> None:
        """``metrics.listen``: this process's own counters over HTTP."""
        if self.config.metrics_listen is None:
            return
        host, port = self.config.metrics_listen
        self.metrics_server = MetricsServer(host, port, self.metrics.registry)
        try:
            self.metrics_server.start()
        except OSError as exc:
            self.metrics_server = None
            raise ConfigError(f"metrics.listen: cannot listen on {host}:{port}: "
                              f"{exc.strerror or exc}", file=str(self.config.path)) from exc

    def _launch(self) -> bool:
        """One launcher pass, after loading the layouts again if they changed."""
        if self.follower is not None:
            self.follower.run_once()
        assert self.launcher is not None
        return self.launcher.run_once()

    def _execute(self) -> bool:
        """One executor step; and, once an hour, log retention."""
        assert self.executor is not None and self.retention is not None
        busy = self.executor.run_once()
        self.retention.run_once()
        return busy

    def stop(self) -> None:
        """Stop cleanly: executors hand their builds back, the scheduler its lease."""
        for reg in self.registries.values():
            with contextlib.suppress(SQLAlchemyError):
                reg.set_state(STOPPING)
        if self.intake is not None:
            self.intake.stop()
        if self.active is not None:
            for service in self.connections.services:
                service.stop()
        for w in self.workers:
            w.stop()
        if self.executor is not None:
            self.executor.stop(wait=True)  # cancelled builds end within a second or two
        if self.console_server is not None:
            self.console_server.stop()
        if self.metrics_server is not None:
            self.metrics_server.stop()
        for w in self.workers:
            w.join(timeout=10)
        if self.active is not None:
            self.active.stop()
        if self.launcher is not None:
            self.launcher.close()  # cloud calls in flight end; the store says what was asked
        for reg in self.registries.values():
            reg.stop()
        self.store.notifier.close()
        self.store.dispose()

    def _node_provider_specs(self) -> dict[str, list[ProviderSpec]]:
        """The cloud providers each tenant's running layout defines."""
        return {tenant: self.layouts.node_providers(tenant)
                for tenant in list(self.layouts.layouts)}

    def project_path(self, connection: str, project: str) -> Path:
        return self.connections.forges[connection].repo_path(project)


class AllInOne(Components):
    """Scheduler, merger, launcher and executor in one process: the embedded mode."""

    def __init__(self, config: ServerConfig, clock: Clock | None = None):
        super().__init__(config, KINDS, clock, embedded=True)
