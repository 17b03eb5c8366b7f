"""Each tenant's current layout, and speculative layouts for items that change config."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.parser import TriggerParser
from zuulish.config.tenant import TenantConfig, load_tenants
from zuulish.drivers.interfaces import Source

log = logging.getLogger(__name__)


class TenantLayouts:
    def __init__(self, tenant_file: Path, connections: dict[str, str],
                 sources: dict[str, Source], trigger_parsers: dict[str, TriggerParser]):
        self.tenant_file = tenant_file
        self.connections = connections
        self.sources = sources
        self.trigger_parsers = trigger_parsers
        self.tenants: dict[str, TenantConfig] = {}
        self.loaders: dict[str, ConfigLoader] = {}
        self.layouts: dict[str, Layout] = {}
        # tenant -> project -> branch -> path -> text (default branch first)
        self.files: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        self._lock = threading.Lock()

    def load_all(self) -> None:
        tenants = load_tenants(self.tenant_file, set(self.connections))
        with self._lock:
            self.tenants = {t.name: t for t in tenants}
            self.loaders = {t.name: ConfigLoader(t, self.connections, self.trigger_parsers)
                            for t in tenants}
        for name in self.tenants:
            self.reload(name)

    def reload(self, tenant: str, project: str | None = None) -> Layout:
        """Re-read the config of ``project`` (every project when None) and rebuild the
        layout; files that did not change come from the loader's caches."""
        config = self.tenants[tenant]
        files = dict(self.files.get(tenant, {}))
        for tp in config.projects:
            if project is not None and tp.name != project and tp.name in files:
                continue
            source = self.sources[tp.connection]
            default = source.default_branch(tp.name)
            files[tp.name] = {branch: source.config_files(tp.name, branch)
                              for branch in tp.config_branches(source.branches(tp.name),
                                                               default)}
        layout = self.loaders[tenant].build_branches(files)
        for err in layout.errors:
            log.warning("tenant %s: %s", tenant, err)
        for warning in layout.warnings:  # settings read and ignored (ConfigWarning)
            log.warning("tenant %s: %s", tenant, warning)
        with self._lock:
            self.files[tenant] = files
            self.layouts[tenant] = layout
        return layout

    def speculative(self, tenant: str, overrides: dict[str, dict[str, str]],
                    branches: dict[str, str] | None = None) -> Layout:
        """The layout with some untrusted projects' config replaced by proposed files.

        ``branches`` names the branch each project's proposed files are for (by
        default the project's first, i.e. default, branch).
        """
        files = dict(self.files[tenant])
        config = self.tenants[tenant]
        for project, project_files in overrides.items():
            tp = config.project(project)
            if tp is None or tp.trusted:
                continue  # trusted config takes effect only once merged
            loaded = files.get(project) or {}
            branch = (branches or {}).get(project) or next(iter(loaded), "main")
            files[project] = {**loaded, branch: project_files}
        return self.loaders[tenant].build_branches(files)

    def tenants_for(self, connection: str, project: str | None) -> list[str]:
        return [name for name, t in self.tenants.items()
                if any(p.connection == connection and (project is None or p.name == project)
                       for p in t.projects)]
