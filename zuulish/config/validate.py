"""``zuulish validate-config``: check one repository's configuration files.

Every file is parsed and every object validated as the scheduler would. Names
that point at objects defined elsewhere (a parent job from a job library, a
nodeset or template of another repository, a pipeline of the config project)
are errors, unless ``standalone`` is set: then they are listed as unresolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.drivers.timer.trigger import parse_trigger as parse_timer_trigger
from zuulish.errors import ConfigError
from zuulish.merger.speculative import is_config_path
from zuulish.model import TIMER, EventFilter

ANY_DRIVER = "(any)"
STANDALONE_PROJECT = "(repository)"


class AnyConnection(dict):
    """Connections when no server configuration is at hand: every name is accepted
    (``timer`` is the timer, which needs no connection)."""

    def __contains__(self, key: object) -> bool:
        return True

    def get(self, key: str, default: str | None = None) -> str:  # type: ignore[override]
        return super().get(key, TIMER if key == TIMER else ANY_DRIVER)


def generic_trigger(connection: str, entries: list) -> tuple[EventFilter, ...]:
    """Trigger entries of a driver this check does not know: shape only (a forge's
    entries have ``event``)."""
    filters = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry:
            raise ValueError(f"each trigger entry must be a mapping such as "
                             f"{{event: ...}} or {{time: ...}}, not {entry!r}")
        events = entry.get("event", [])
        events = events if isinstance(events, list) else [events]
        filters.append(EventFilter(connection, tuple(str(e) for e in events)))
    return tuple(filters)


@dataclass
class ValidationReport:
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[ConfigError] = field(default_factory=list)  # settings without effect
    unresolved: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


CONFIG_DIRS = ("zuul.d", ".zuul.d", "zuulish.d")  # read whole, as Zuul reads zuul.d/


def config_files(path: Path) -> dict[str, str]:
    """The configuration files of ``path``: a file itself; in a configuration
    directory (``zuul.d``, ``.zuul.d``, ``zuulish.d``), its YAML files; in any other
    directory (a repository checkout), the files Zuul reads from a repository. A
    directory that holds none is an error."""
    if path.is_file():
        return {str(path): path.read_text()}
    if not path.is_dir():
        raise ConfigError("no such file or directory", file=str(path))
    prefix = f"{path.absolute().name}/" if path.absolute().name in CONFIG_DIRS else ""
    found = {}
    for candidate in sorted(path.rglob("*")):
        rel = prefix + candidate.relative_to(path).as_posix()
        if candidate.is_file() and ".git" not in candidate.parts and is_config_path(rel):
            found[str(candidate)] = candidate.read_text()
    if not found:
        what = "YAML files (*.yaml)" if prefix else \
            "Zuul configuration files (zuul.yaml, zuul.d/, .zuul.yaml, .zuul.d/)"
        raise ConfigError(f"no {what} in this directory", file=str(path))
    return found


def validate(paths: Iterable[Path], standalone: bool = False) -> ValidationReport:
    report = ValidationReport()
    files: dict[str, str] = {}
    for path in paths:
        try:
            files.update(config_files(path))
        except (ConfigError, OSError, UnicodeDecodeError) as exc:
            report.errors.append(exc if isinstance(exc, ConfigError)
                                 else ConfigError(str(exc), file=str(path)))
    report.files = sorted(files)
    tenant = TenantConfig("validate", [TenantProject("", STANDALONE_PROJECT, True)])
    loader = ConfigLoader(tenant, AnyConnection(),
                          {ANY_DRIVER: generic_trigger, TIMER: parse_timer_trigger},
                          open_pipelines=True, keep_paths=True)
    layout = loader.build({STANDALONE_PROJECT: ("main", files)})
    report.errors.extend(layout.errors)
    report.warnings.extend(layout.warnings)
    report.errors.extend(missing_playbooks(layout, repository_roots(paths)))
    for where, kind, name in references(layout):
        if standalone:
            report.unresolved.append(f"{kind} {name!r} (used at {where})")
        else:
            file, _, line = where.rpartition(":")
            report.errors.append(ConfigError(f"{kind} {name!r} is not defined in these files "
                                             "(if another repository defines it, check with "
                                             "--standalone)",
                                             file=file, line=int(line) if line.isdigit()
                                             else None))
    return report


def repository_roots(paths: Iterable[Path]) -> list[Path]:
    """The repository each path belongs to: a configuration directory's is the one
    holding it; any other directory is one; a file belongs to the nearest directory
    above it that holds ``.git`` (none: not checked)."""
    roots = []
    for path in paths:
        path = path.absolute()
        if path.is_dir():
            roots.append(path.parent if path.name in CONFIG_DIRS else path)
            continue
        for parent in path.parents:
            if (parent / ".git").exists():
                roots.append(parent)
                break
    return sorted(set(roots), key=lambda p: len(p.parts), reverse=True)


def missing_playbooks(layout: Layout, roots: list[Path]) -> list[ConfigError]:
    """An error for each playbook a job names that its repository lacks."""
    errors = []
    for variants in layout.jobs.values():
        for job in variants:
            source = Path(job.source_file or "").absolute()
            root = next((r for r in roots if source.is_relative_to(r)), None)
            if root is None:
                continue
            for key, books in (("pre-run", job.pre_run), ("run", job.run),
                               ("post-run", job.post_run), ("cleanup-run", job.cleanup_run)):
                for book in books:
                    if not (root / book.path).is_file():
                        errors.append(ConfigError(
                            f"job {job.name!r}: {key} playbook {book.path!r} does not exist "
                            f"in {root}", file=job.source_file,
                            line=book.line or job.source_line))
    return errors


def references(layout: Layout) -> list[tuple[str, str, str]]:
    """(where, kind, name) of every name that no object in the layout defines."""
    missing: list[tuple[str, str, str]] = []
    secrets = layout.objects.get("secret", {})
    semaphores = layout.objects.get("semaphore", {})

    def check(known: object, kind: str, name: str, file: str | None, line: int | None) -> None:
        if name not in known and (kind, name) not in layout.broken:  # type: ignore[operator]
            missing.append((f"{file}:{line}", kind, name))

    for variants in layout.jobs.values():
        for job in variants:
            if job.parent:
                check(layout.jobs, "job", job.parent, job.source_file, job.source_line)
            if isinstance(job.nodeset, str):
                check(layout.nodesets, "nodeset", job.nodeset, job.source_file,
                      job.source_line)
            for dep in job.dependencies:
                check(layout.jobs, "job", dep, job.source_file, job.source_line)
            for secret in job.secrets:
                check(secrets, "secret", secret, job.source_file, job.source_line)
            for semaphore in job.semaphores:
                check(semaphores, "semaphore", semaphore, job.source_file, job.source_line)
    stanzas = [s for group in (layout.projects, layout.project_templates)
               for ss in group.values() for s in ss]
    for stanza in stanzas:
        for template in stanza.templates:
            check(layout.project_templates, "project-template", template,
                  stanza.source_file, stanza.source_line)
        for pipeline, ppj in stanza.pipelines.items():
            check(layout.pipelines, "pipeline", pipeline, stanza.source_file,
                  stanza.source_line)
            for ref in ppj.jobs:
                check(layout.jobs, "job", ref.name, stanza.source_file,
                      ref.line or stanza.source_line)
    return sorted(set(missing))
