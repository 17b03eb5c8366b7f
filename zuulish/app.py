"""Wire the components together: all-in-one mode runs every one in this process."""

from __future__ import annotations

import logging
from pathlib import Path

from zuulish.clock import Clock, SystemClock
from zuulish.drivers.git.intake import IntakeServer, serve_forges
from zuulish.drivers.registry import make_connections, trigger_parsers
from zuulish.drivers.timer.timer import Timer
from zuulish.errors import ConfigError
from zuulish.executor.retention import DAY, LogRetention
from zuulish.executor.server import Executor
from zuulish.logs.stores import make_log_stores
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.worker import MergerWorker
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
        if p.driver == "static":
            providers.append(StaticProvider(p.name, list(p.options["hosts"])))
        else:
            gpu_options = {k: v for k, v in p.options.items() if k != "host_paths"}
            providers.append(LocalProvider(p.name, p.labels, p.max_nodes,
                                           tuple(p.options.get("host_paths", ())),
                                           **gpu_options))
    return providers


class AllInOne:
    """Scheduler, merger, launcher and executor in one process, over one store."""

    def __init__(self, config: ServerConfig, clock: Clock | None = None):
        self.config = config
        self.clock = clock or SystemClock()
        try:
            config.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"state_dir: cannot create {config.state_dir}: "
                              f"{exc.strerror or exc}", file=str(config.path)) from exc
        self.store = Store(config.database)
        self.store.upgrade()
        # where finished builds' logs are kept (logs:), for the executor and retention
        self.log_stores = make_log_stores(config.logs, config.state_dir)
        self.connections = make_connections(config, self.store, self.clock)
        self.layouts = TenantLayouts(config.tenant_file, self.connections.drivers,
                                     self.connections.sources, trigger_parsers(),
                                     nodes=config.node_context())
        self.scheduler = Scheduler(self.store, self.clock, self.layouts,
                                   self.connections.sources, self.connections.reporters,
                                   config.web_url)
        self.timer = Timer(self.store, self.clock, self.layouts, self.connections.sources)
        self.merger = MergerWorker(
            self.store, RepoCache(config.state_dir / "merger-cache",
                                  max_bytes=config.merger_cache_max_bytes,
                                  credentials=self.connections.git_credentials),
            self.clock, timeout=config.merger_timeout)
        self.launcher = Launcher(
            self.store, make_providers(config), self.clock,
            clouds=LayoutClouds(self._node_provider_specs, lambda: self.launcher.system_id),
            calls=Calls(lambda: self.store.notifier.notify(channels.LAUNCHER)),
            settings=LauncherSettings(tenant_limits=config.tenant_limits,
                                      tenant_weights=config.tenant_weights))
        self.executor = Executor(self.store, config.state_dir, self.clock,
                                 workers=config.executor_workers,
                                 preload_ansible=config.executor_preload_ansible,
                                 private_key=config.executor_private_key,
                                 sandbox_network=config.executor_sandbox_network,
                                 max_returned_bytes=config.executor_max_returned_bytes,
                                 trusted_ro_paths=config.executor_trusted_ro_paths,
                                 trusted_rw_paths=config.executor_trusted_rw_paths,
                                 node_limits=config.executor_node_limits,
                                 git_credentials=self.connections.git_credentials,
                                 log_stores=self.log_stores)
        days = config.log_retention_days
        self.retention = LogRetention(self.store, config.state_dir, self.clock,
                                      None if days is None else days * DAY,
                                      stores=self.log_stores)
        self.workers: list[Worker] = []
        self.intake: IntakeServer | None = None

    def recover(self) -> None:
        """After a restart: re-run what was in flight and pick up unrecorded pushes."""
        from sqlalchemy import update

        from zuulish.model import BuildState
        from zuulish.store import BuildRow, MergeRequestRow

        # nothing of a killed executor's builds may run beside their next attempts
        self.executor.clear_leftovers()
        with self.store.session() as s:
            s.execute(update(MergeRequestRow).where(MergeRequestRow.state == "running")
                      .values(state="requested", worker=None))
            s.execute(update(BuildRow).where(BuildRow.state == BuildState.RUNNING)
                      .values(state=BuildState.QUEUED, worker=None))
        for forge in self.connections.forges.values():
            forge.recover_pending_pushes()

    def start(self) -> None:
        self.layouts.load_all()  # first: a tenant file that cannot be read stops here
        self.store.notifier.listen(self.config.state_dir)
        if self.connections.forges:
            self.intake = serve_forges(self.config.path, self.connections.forges)
            self.intake.start()
        self.recover()
        for service in self.connections.services:
            service.start()
        poll = self.config.poll_interval
        notifier = self.store.notifier
        self.workers = [
            Worker("scheduler", self._schedule, notifier, channels.SCHEDULER, poll),
            Worker("merger", self.merger.run_once, notifier, channels.MERGER, poll),
            Worker("launcher", self.launcher.run_once, notifier, channels.LAUNCHER, poll),
            Worker("executor", self._execute, notifier, channels.EXECUTOR, poll),
        ]
        for w in self.workers:
            w.start()

    def _schedule(self) -> bool:
        """One scheduler pass, after recording any timer tick that has come."""
        fired = self.timer.run_once()
        return self.scheduler.run_once().busy or fired

    def _execute(self) -> bool:
        """One executor step; and, once an hour, log retention."""
        busy = self.executor.run_once()
        self.retention.run_once()
        return busy

    def stop(self) -> None:
        if self.intake is not None:
            self.intake.stop()
        for service in self.connections.services:
            service.stop()
        for w in self.workers:
            w.stop()
        self.executor.stop(wait=True)  # cancelled builds end within a second or two
        for w in self.workers:
            w.join(timeout=10)
        self.launcher.close()  # cloud calls in flight end; the store says what was asked
        self.store.notifier.close()
        self.store.dispose()

    def _node_provider_specs(self) -> dict[str, list[ProviderSpec]]:
        """The cloud providers each tenant's running layout defines."""
        return {tenant: self.layouts.node_providers(tenant)
                for tenant in list(self.layouts.layouts)}

    def project_path(self, connection: str, project: str) -> Path:
        return self.connections.forges[connection].repo_path(project)
