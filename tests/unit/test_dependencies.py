"""The declared runtime dependencies are exactly the ones zuulish uses.

Each distribution in ``[project] dependencies`` must provide a module that some
file under ``zuulish/`` imports (or be listed in ``USED_OTHERWISE`` with the
reason), and each third-party module zuulish imports must come from a declared
distribution (runtime or an optional extra), not from whatever happens to be
installed beside it.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

# Distributions zuulish uses without importing them, and how.
USED_OTHERWISE = {
    # SQLAlchemy loads it for ``postgresql+psycopg://`` URLs (zuulish/store/database.py).
    "psycopg": "the PostgreSQL driver of SQLAlchemy's postgresql+psycopg dialect",
}


def declared(pyproject: Path, extras: bool = False) -> set[str]:
    """The canonical names of ``pyproject``'s runtime (and with ``extras``, optional) deps."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project.get("dependencies", []))
    if extras:
        for group in project.get("optional-dependencies", {}).values():
            requirements.extend(group)
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def imported_modules(package: Path) -> dict[str, str]:
    """Each top-level module imported absolutely under ``package``, with one place doing it."""
    found: dict[str, str] = {}
    for source in sorted(package.rglob("*.py")):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names: Iterable[str] = (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = (node.module,)
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], f"{source.relative_to(package.parent)}:"
                                                     f"{node.lineno}")
    return found


def distributions_of(modules: Iterable[str]) -> dict[str, set[str]]:
    """The installed distributions providing each of ``modules`` (canonical names)."""
    providers = packages_distributions()
    return {m: {canonicalize_name(d) for d in providers.get(m, [])} for m in modules}


def unused(pyproject: Path, package: Path) -> set[str]:
    """Declared runtime dependencies that nothing under ``package`` imports."""
    used = set().union(*distributions_of(imported_modules(package)).values())
    return declared(pyproject) - used - set(USED_OTHERWISE)


def undeclared(pyproject: Path, package: Path) -> dict[str, str]:
    """Third-party modules imported under ``package`` that no declared distribution provides."""
    allowed = declared(pyproject, extras=True)
    own = package.name
    missing = {}
    for module, where in imported_modules(package).items():
        if module in sys.stdlib_module_names or module in ("__future__", own):
            continue
        if not distributions_of([module])[module] & allowed:
            missing[module] = where
    return missing


def test_every_declared_dependency_is_used() -> None:
    assert unused(ROOT / "pyproject.toml", ROOT / "zuulish") == set()


def test_every_imported_third_party_module_is_declared() -> None:
    assert undeclared(ROOT / "pyproject.toml", ROOT / "zuulish") == {}


def _project(tmp_path: Path, dependencies: list[str], source: str) -> tuple[Path, Path]:
    pyproject = tmp_path / "pyproject.toml"
    deps = ", ".join(f'"{d}"' for d in dependencies)
    pyproject.write_text(f'[project]\nname = "x"\nversion = "0"\ndependencies = [{deps}]\n')
    package = tmp_path / "zuulish"
    (package / "sub").mkdir(parents=True)
    (package / "sub" / "mod.py").write_text(source)
    return pyproject, package


def test_a_dependency_nothing_imports_is_reported(tmp_path: Path) -> None:
    pyproject, package = _project(tmp_path, ["PyYAML>=6", "Jinja2[i18n]>=3,<4"],
                                  "import os\nfrom yaml import safe_load\n")
    assert unused(pyproject, package) == {"jinja2"}


def test_an_import_of_an_undeclared_distribution_is_reported(tmp_path: Path) -> None:
    pyproject, package = _project(tmp_path, ["PyYAML>=6"],
                                  "from . import x\nimport yaml\nimport jinja2.sandbox\n")
    assert undeclared(pyproject, package) == {"jinja2": "zuulish/sub/mod.py:3"}


def test_a_module_that_is_not_installed_is_reported(tmp_path: Path) -> None:
    pyproject, package = _project(tmp_path, [], "import zuulish_no_such_module\n")
    assert undeclared(pyproject, package) == {"zuulish_no_such_module": "zuulish/sub/mod.py:1"}
