"""Shared scaffolding for the end-to-end attack modules: one untrusted change
that defines one job per attack, pushed once through the real executor, and
what the attacker would see of each build."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.store import BuildRow, ChangeRow, ReportRow
from zuulish.web.history import build_info

PLANTED = "planted-state-secret-51ae"


@dataclass
class Attack:
    """One job of the attacking change: ``name`` runs ``playbooks/<name>.yaml``."""

    name: str
    files: dict[str, str]
    links: dict[str, str] = field(default_factory=dict)
    job: str = ""  # more attributes of its job (YAML lines, indented 4)
    run: str | None = None  # its run playbook, when not playbooks/<name>.yaml


def planted_path(tmp: Path) -> Path:
    return tmp / "state" / "planted.txt"


@dataclass
class AttackRun:
    """The reported change and its builds, read as the attacker would."""

    tenant: GateTenant
    number: int
    builds: dict[str, BuildRow]

    def build(self, name: str) -> BuildRow:
        return self.builds[name]

    def log(self, name: str) -> str:
        path = Path(self.builds[name].log_path or "") / "job-output.txt"
        return path.read_text() if path.is_file() else ""

    def shown(self) -> str:
        """Everything the attacker can read: logs (text and JSON), builds as the
        API shows them, reports, and every text column of the database."""
        parts = []
        for build in self.builds.values():
            if build.log_path:
                for path in sorted(Path(build.log_path).rglob("*")):
                    if path.is_file() and not path.is_symlink():
                        parts.append(path.read_text(errors="replace"))
            parts.append(json.dumps(build_info(self.tenant.aio.store, build.id,
                                               "http://zuulish.test")))
        with self.tenant.aio.store.read() as s:
            for row in (*s.scalars(select(BuildRow)), *s.scalars(select(ReportRow)),
                        *s.scalars(select(ChangeRow))):
                parts.append(repr({c.key: getattr(row, c.key)
                                   for c in row.__mapper__.column_attrs}))
        return "\n".join(parts)

    def assert_not_shown(self) -> None:
        assert PLANTED not in self.shown()


def zuul_yaml(attacks: list[Attack]) -> str:
    jobs = "".join(f"- job:\n    name: {a.name}\n    run: {a.run or f'playbooks/{a.name}.yaml'}\n"
                   f"{a.job}" for a in attacks)
    names = ", ".join(a.name for a in attacks)
    return jobs + f"- project:\n    check:\n      jobs: [{names}]\n"


class AttackTenant:
    """A started tenant with the untrusted project ``org/app`` and a file planted in
    its state directory (``{planted}`` in a pushed file or link target names it,
    ``{state}`` the state directory)."""

    def __init__(self, tmp: Path, **tenant_options: Any) -> None:
        self.tenant = GateTenant(tmp, f"sqlite:///{tmp / 'zuulish.db'}",
                                 {"org/app": {"README": "app\n"}}, **tenant_options)
        self.planted = planted_path(tmp)
        self.planted.parent.mkdir(parents=True, exist_ok=True)
        self.planted.write_text(PLANTED + "\n")
        self.tenant.start()

    def push(self, attacks: list[Attack], extra_files: dict[str, str] | None = None,
             subject: str = "Attacks", timeout: float = 300) -> AttackRun:
        """Push one change with every attack as a job (and ``extra_files``) and wait
        for its report; job names are unique across the pushes of one tenant."""
        files = {".zuul.yaml": zuul_yaml(attacks), **(extra_files or {})}
        links: dict[str, str] = {}
        for attack in attacks:
            files.update(attack.files)
            links.update(attack.links)
        files = {k: self.fill(v) for k, v in files.items()}
        links = {k: self.fill(v) for k, v in links.items()}
        number = self.tenant.push("org/app", files, subject, links=links)
        self.tenant.wait_reported(number, "check", timeout=timeout)
        names = {a.name for a in attacks}
        with self.tenant.aio.store.read() as s:
            builds = {b.job: b for b in s.scalars(select(BuildRow)) if b.job in names}
        return AttackRun(self.tenant, number, builds)

    def fill(self, text: str) -> str:
        """``text`` with ``{planted}`` and ``{state}`` replaced by their paths."""
        return text.replace("{planted}", str(self.planted)).replace(
            "{state}", str(self.planted.parent))

    def stop(self) -> None:
        self.tenant.stop()


def run_attacks(tmp: Path, attacks: list[Attack], timeout: float = 300,
                extra_files: dict[str, str] | None = None, subject: str = "Attacks",
                **tenant_options: Any) -> Iterator[AttackRun]:
    """One tenant, one change with every attack: yields its run, then stops."""
    tenant = AttackTenant(tmp, **tenant_options)
    try:
        yield tenant.push(attacks, extra_files, subject, timeout)
    finally:
        tenant.stop()
