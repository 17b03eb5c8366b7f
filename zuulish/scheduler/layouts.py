"""Each tenant's current layout, and speculative layouts for items that change config.

A layout that fails to load is never put in place of a running one: when a
config project's configuration (or the tenant file) brings new errors, the
tenant keeps its last good layout, and the errors are kept as its *refused*
configuration (``config_errors``) for the dashboard, the API and the answer to a
reconfiguration, until a later load succeeds. An untrusted project's errors
only leave its broken objects out, as in Zuul.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.node_providers import NodeContext
from zuulish.config.parser import TriggerParser
from zuulish.config.tenant import TenantConfig, TenantProject, load_tenants
from zuulish.drivers.interfaces import Source
from zuulish.errors import ConfigError
from zuulish.nodepool.cloud import ProviderSpec

log = logging.getLogger(__name__)

# project -> branch -> path -> text (default branch first)
ProjectFiles = dict[str, dict[str, dict[str, str]]]


@dataclass
class Refused:
    """A tenant configuration that was read but not put in place, and why."""

    errors: list[ConfigError]
    # files read but not applied, tried again by the tenant's next reload
    files: ProjectFiles = field(default_factory=dict)


@dataclass
class LoadResult:
    """What one tenant's (re)load did: ``applied`` is False when the last good
    layout was kept because of ``errors``."""

    tenant: str
    applied: bool
    layout: Layout
    errors: list[ConfigError]

    def describe(self) -> str:
        if self.applied:
            counts = f"{len(self.layout.pipelines)} pipeline(s), {len(self.layout.jobs)} job(s)"
            extra = f", {len(self.errors)} configuration error(s)" if self.errors else ""
            return f"tenant {self.tenant}: reconfigured ({counts}{extra})"
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        return (f"tenant {self.tenant}: the new configuration has {len(self.errors)} "
                f"error(s) and was not applied; the last good layout stays: {shown}{more}")


def _error_key(error: ConfigError) -> tuple[str | None, str]:
    """An error's identity across loads: lines move when text is added above them."""
    return error.file, error.message


def new_errors(candidate: Layout, current: Layout | None) -> list[ConfigError]:
    """The candidate's errors that ``current`` does not have."""
    known = {_error_key(e) for e in current.errors} if current is not None else set()
    return [e for e in candidate.errors if _error_key(e) not in known]


def in_projects(error: ConfigError, projects: set[str] | Mapping[str, object]) -> bool:
    """Whether the error is in a file of one of ``projects`` (``p/path``, ``p@branch/path``)."""
    name = error.file or ""
    return any(name.startswith((f"{p}/", f"{p}@")) for p in projects)


class TenantLayouts:
    def __init__(self, tenant_file: Path, connections: dict[str, str],
                 sources: dict[str, Source], trigger_parsers: dict[str, TriggerParser],
                 nodes: NodeContext | None = None):
        """``nodes``: zuulish.yaml's cloud connections and its providers' labels
        (``ServerConfig.node_context()``); None: tenants' providers are not built
        and nodesets' labels are not checked."""
        self.tenant_file = tenant_file
        self.nodes = nodes
        self.connections = connections
        self.sources = sources
        self.trigger_parsers = trigger_parsers
        self.tenants: dict[str, TenantConfig] = {}
        self.loaders: dict[str, ConfigLoader] = {}
        self.layouts: dict[str, Layout] = {}
        self.files: dict[str, ProjectFiles] = {}
        self.refused: dict[str, Refused] = {}
        self.tenant_file_error: ConfigError | None = None  # the last reconfigure's
        self._lock = threading.Lock()

    # ------------------------------------------------------------- loading
    def load_all(self) -> list[LoadResult]:
        """Read the tenant file and every tenant's configuration (at start-up)."""
        return self.reconfigure()

    def reconfigure(self, tenant: str | None = None) -> list[LoadResult]:
        """Read the tenant file again and every project's configuration, for
        ``tenant`` (None: every tenant, adding and removing tenants as the file
        says). A tenant file that cannot be read raises ConfigError and changes
        nothing; a tenant whose new layout has new errors keeps its last good one."""
        try:
            configs = {t.name: t for t in load_tenants(self.tenant_file, set(self.connections))}
        except ConfigError as exc:
            with self._lock:
                self.tenant_file_error = exc
            if self.tenants:
                log.error("tenant file not loaded (the running tenants are unchanged): %s",
                          exc)
            raise
        if tenant is not None and tenant not in configs:
            raise ConfigError(f"the tenant file defines no tenant {tenant!r} (it has: "
                              f"{', '.join(sorted(configs)) or 'none'})",
                              file=str(self.tenant_file))
        with self._lock:
            self.tenant_file_error = None
            if tenant is None:
                for gone in set(self.tenants) - set(configs):
                    log.warning("tenant %s is no longer in the tenant file: removed", gone)
                    for table in (self.tenants, self.loaders, self.layouts, self.files,
                                  self.refused):
                        table.pop(gone, None)
        results = []
        for name, config in configs.items():
            if tenant is not None and name != tenant:
                continue
            loader = ConfigLoader(config, self.connections, self.trigger_parsers,
                                  nodes=self.nodes)
            files, missing = self._read(config, {}, None)
            results.append(self._apply(name, config, loader, files, missing))
        return results

    def reload(self, tenant: str, project: str | None = None) -> Layout:
        """Re-read the config of ``project`` (every project when None) and rebuild the
        layout; files that did not change come from the loader's caches. Returns the
        tenant's layout afterwards: the last good one if the new one was refused."""
        config = self.tenants[tenant]
        refused = self.refused.get(tenant)
        known = {**self.files.get(tenant, {}), **(refused.files if refused else {})}
        files, missing = self._read(config, known, project)
        return self._apply(tenant, config, self.loaders[tenant], files, missing).layout

    def _read(self, config: TenantConfig, known: ProjectFiles,
              project: str | None) -> tuple[ProjectFiles, list[ConfigError]]:
        """Each project's config files (``known`` ones kept unless it is ``project``,
        or every project when None), and an error for each project that is missing."""
        files = dict(known)
        missing: list[ConfigError] = []
        for tp in config.projects:
            if project is not None and tp.name != project and tp.name in files:
                continue
            source = self.sources[tp.connection]
            if not source.exists(tp.name):
                files.pop(tp.name, None)
                missing.append(_missing_project(config, tp))
                continue
            default = source.default_branch(tp.name)
            files[tp.name] = {branch: source.config_files(tp.name, branch)
                              for branch in tp.config_branches(source.branches(tp.name),
                                                               default)}
        return files, missing

    def _apply(self, tenant: str, config: TenantConfig, loader: ConfigLoader,
               files: ProjectFiles, missing: list[ConfigError]) -> LoadResult:
        candidate = loader.build_branches(files)
        candidate.errors[:0] = missing
        current = self.layouts.get(tenant)
        added = new_errors(candidate, current)
        applied = self.files.get(tenant, {})
        unapplied = {p: f for p, f in files.items() if applied.get(p) != f}
        if current is not None and _breaks(config, added, set(unapplied), missing):
            before = self.refused.get(tenant)
            with self._lock:
                self.refused[tenant] = Refused(added, unapplied)
            if before is None or [str(e) for e in before.errors] != [str(e) for e in added]:
                for err in added:  # once, not again at each retry
                    log.error("tenant %s: configuration not applied (the last good layout "
                              "stays): %s", tenant, err)
            return LoadResult(tenant, False, current, added)
        for err in candidate.errors:
            log.warning("tenant %s: %s", tenant, err)
        for warning in candidate.warnings:  # settings read and ignored (ConfigWarning)
            log.warning("tenant %s: %s", tenant, warning)
        with self._lock:
            self.tenants[tenant] = config
            self.loaders[tenant] = loader
            self.files[tenant] = files
            self.layouts[tenant] = candidate
            self.refused.pop(tenant, None)
        return LoadResult(tenant, True, candidate, list(candidate.errors))

    # ----------------------------------------------------------- reading
    def node_providers(self, tenant: str) -> list[ProviderSpec]:
        """The providers the tenant's running layout defines (``provider`` objects
        resolved down their sections; see ``config.node_providers``)."""
        with self._lock:
            layout = self.layouts.get(tenant)
        return list(layout.node_providers) if layout is not None else []

    def config_errors(self, tenant: str) -> list[dict[str, object]]:
        """The tenant's configuration errors, as the API and the dashboard show them:
        those of a refused load (``applied``: False; the last good layout runs), a
        tenant file that could not be read, and those of the running layout; then
        the running layout's warnings (``severity``: warning, as in Zuul: settings
        read and ignored)."""
        with self._lock:
            layout = self.layouts.get(tenant)
            refused = self.refused.get(tenant)
            tenant_file = self.tenant_file_error
        out: list[dict[str, object]] = []
        if tenant_file is not None:
            out.append(_error_entry(tenant_file, "tenant-file", False))
        for err in refused.errors if refused else ():
            out.append(_error_entry(err, "refused", False))
        for err in layout.errors if layout is not None else ():
            out.append(_error_entry(err, "layout", True))
        for warning in layout.warnings if layout is not None else ():
            out.append(_error_entry(warning, "layout", True, "warning"))  # read, ignored
        return out

    def speculative(self, tenant: str, overrides: dict[str, dict[str, str]],
                    branches: dict[str, str] | None = None,
                    trusted: bool = False) -> Layout:
        """The layout with some projects' config replaced by proposed files.

        Only untrusted projects' proposals take effect for the jobs run on them;
        ``trusted`` also applies config projects' (on their default branch), to
        validate them: a config project's change takes effect once merged.
        ``branches`` names the branch each project's proposed files are for (by
        default the project's first, i.e. default, branch).
        """
        files = dict(self.files[tenant])
        config = self.tenants[tenant]
        for project, project_files in overrides.items():
            tp = config.project(project)
            if tp is None or (tp.trusted and not trusted):
                continue
            loaded = files.get(project) or {}
            default = next(iter(loaded), "main")
            branch = (branches or {}).get(project) or default
            if tp.trusted and branch != default:
                continue  # a config project's config is read from its default branch only
            files[project] = {**loaded, branch: project_files}
        return self.loaders[tenant].build_branches(files)

    def has_trusted(self, tenant: str, projects: Mapping[str, object]) -> bool:
        config = self.tenants[tenant]
        return any((tp := config.project(p)) is not None and tp.trusted for p in projects)

    def proposed_errors(self, tenant: str, layout: Layout,
                        projects: Mapping[str, object]) -> list[ConfigError]:
        """The errors of a layout built with ``projects``' proposed config: those in
        their files, and any the running layout does not have (e.g. a job that
        another project uses, removed)."""
        current = self.layouts.get(tenant)
        added = {id(e) for e in new_errors(layout, current)}
        return [e for e in layout.errors if in_projects(e, projects) or id(e) in added]

    def tenants_for(self, connection: str, project: str | None) -> list[str]:
        return [name for name, t in self.tenants.items()
                if any(p.connection == connection and (project is None or p.name == project)
                       for p in t.projects)]


def _breaks(config: TenantConfig, added: list[ConfigError], changed: set[str],
            missing: list[ConfigError]) -> bool:
    """Whether new errors make a load fail: errors in config projects' files, a new
    error of any kind while a config project's files changed, or a project of the
    tenant file missing. (An untrusted project's own errors only leave its broken
    objects out, as in Zuul.)"""
    if not added:
        return False
    trusted = {tp.name for tp in config.projects if tp.trusted}
    if changed & trusted:
        return True
    missing_ids = {id(e) for e in missing}
    return any(id(e) in missing_ids or in_projects(e, trusted) for e in added)


def _missing_project(config: TenantConfig, tp: TenantProject) -> ConfigError:
    return ConfigError(f"tenant {config.name!r}: project {tp.name!r} does not exist on "
                       f"connection {tp.connection!r}; its configuration is not loaded",
                       file=tp.file, line=tp.line)


def _error_entry(error: ConfigError, source: str, applied: bool,
                 severity: str = "error") -> dict[str, object]:
    return {"error": str(error), "message": error.message, "file": error.file,
            "line": error.line, "source": source, "applied": applied,
            "severity": severity}
