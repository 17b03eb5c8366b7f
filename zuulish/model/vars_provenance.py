"""Which project set each job variable, and whether it is trusted (pure).

Job variables are merged from many places: the variants of a job and of its
ancestors (``vars``, ``extra-vars``, ``host-vars``, ``group-vars``), the project
stanzas and templates (``vars``). Mappings merge key by key; any other value
replaces. For each top-level variable (and each host's or group's), the
sources are the projects whose values are in the merged one: a replacing value
resets them to its project, a mapping merged into a mapping adds its project.

A variable with any untrusted project among its sources is untrusted: the
executor hands it to trusted playbooks frozen and marked unsafe
(``executor/untrusted_vars.py``).
"""

from __future__ import annotations

from typing import Any

Sources = dict[str, dict[str, bool]]  # variable name -> {project: trusted}

KINDS = ("vars", "extra_vars", "host_vars", "group_vars")
PER_TARGET = ("host_vars", "group_vars")  # host or group -> name -> sources


def merged_sources(before: dict[str, Any], given: dict[str, Any], sources: Sources,
                   project: str, trusted: bool) -> Sources:
    """The sources after ``given`` (set by ``project``) is merged over ``before``
    (whose sources are ``sources``)."""
    out = dict(sources)
    for name, value in given.items():
        if isinstance(value, dict) and isinstance(before.get(name), dict):
            out[name] = {**sources.get(name, {}), project: trusted}
        else:
            out[name] = {project: trusted}
    return out


def below(lower: dict[str, Any], lower_sources: Sources, upper: dict[str, Any],
          upper_sources: Sources) -> Sources:
    """The sources of ``upper`` merged over ``lower``, each with its own sources."""
    out = dict(lower_sources)
    for name, value in upper.items():
        mine = upper_sources.get(name, {})
        if isinstance(value, dict) and isinstance(lower.get(name), dict):
            out[name] = {**lower_sources.get(name, {}), **mine}
        else:
            out[name] = dict(mine)
    return out


def untrusted(sources: dict[str, bool] | None) -> bool:
    """Whether a variable with these sources holds a value of an untrusted project.
    No sources known (a job frozen before provenance was recorded): untrusted."""
    return sources is None or not all(sources.values())


def untrusted_projects(sources: dict[str, bool] | None) -> list[str]:
    """The untrusted projects among ``sources``, for a message."""
    return sorted(p for p, trusted in (sources or {}).items() if not trusted)
