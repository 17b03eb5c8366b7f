"""The Ansible inventory and the ``zuul`` variable, as Zuul defines them,
so roles written for Zuul run unchanged."""

from __future__ import annotations

import base64
import ipaddress
import os
import pwd
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ansible

from zuulish.executor.ansible_run import INVENTORY_FILE
from zuulish.executor.local_node import GPUS_VAR, HOST_PATHS_VAR
from zuulish.executor.returned import result_file
from zuulish.executor.unsafe import Unsafe
from zuulish.executor.workspace import PreparedRepo
from zuulish.model import FrozenJob


def _message_vars(message: str | None) -> dict[str, Any]:
    """Zuul's ``change_message`` (unsafe) and the deprecated base64 ``message``."""
    text = message or ""
    return {"message": base64.b64encode(text.encode()).decode(),
            "change_message": Unsafe(text)}


def zuul_var(params: dict[str, Any], job: FrozenJob, build_id: str, repos: list[PreparedRepo],
             work_root: Path, log_root: Path, hostname: str, attempt: int) -> dict[str, Any]:
    project = params["project"]

    def project_entry(name: str, repo: PreparedRepo | None) -> dict[str, Any]:
        return {
            "name": name,
            "short_name": name.rsplit("/", 1)[-1],
            "canonical_hostname": hostname,
            "canonical_name": f"{hostname}/{name}",
            "src_dir": repo.src_dir if repo else f"src/{hostname}/{name}",
            "checkout": repo.branch if repo else params.get("branch"),
            "checkout_description": repo.description if repo else "zuul branch",
            "commit": repo.commit if repo else None,
            "required": name in job.required_projects,
        }

    by_name = {r.project: r for r in repos}
    return {
        "build": build_id,
        "buildset": params.get("buildset"),
        "tenant": params.get("tenant"),
        "pipeline": params.get("pipeline"),
        "job": job.name,
        "voting": job.voting,
        "timeout": job.timeout,
        "post_timeout": job.post_timeout,
        "attempts": attempt,
        "max_attempts": job.attempts,
        "post_review": job.post_review,
        # the event that enqueued the item (absent for items enqueued before it was kept)
        **({"event_id": params["event_id"]} if params.get("event_id") else {}),
        # Zuul's Kubernetes/namespace resources by node: none on zuulish's nodes
        "resources": {},
        "ansible_version": ansible.__version__,
        "project": project_entry(project, by_name.get(project)),
        "projects": {f"{hostname}/{r.project}": project_entry(r.project, r) for r in repos},
        "branch": params.get("branch"),
        "override_checkout": job.override_checkout,
        **_item_vars(params, project_entry(project, by_name.get(project)),
                     [_ahead_entry(a, project_entry(a["project"], by_name.get(a["project"])))
                      for a in params.get("changes_ahead") or []]),
        "executor": {"hostname": hostname, "work_root": str(work_root),
                     "src_root": str(work_root / "src"), "log_root": str(log_root),
                     "inventory_file": str(work_root.parent / "ansible" / "inventory" /
                                           INVENTORY_FILE),
                     "result_data_file": str(result_file(work_root))},
        "jobtags": list(job.tags),
        "child_jobs": list(params.get("child_jobs") or []),
        # artifacts of the builds this one depends on, each with its ``job``
        "artifacts": list(params.get("artifacts") or []),
    }


def _ahead_entry(ahead: dict[str, Any], project: dict[str, Any]) -> dict[str, Any]:
    """One ``zuul.items`` entry for an item the state holds ahead of this one."""
    if ahead.get("change") is None:
        about = {"ref": ahead.get("ref"), "oldrev": ahead.get("oldrev"),
                 "newrev": ahead.get("newrev")}
    else:
        about = {"change": str(ahead["change"]), "patchset": str(ahead.get("patchset")),
                 "change_url": ahead.get("change_url")}
        if ahead.get("message") is not None:
            about["change_message"] = Unsafe(ahead["message"])
    return {"project": project, "branch": ahead.get("branch"), **about}


def _item_vars(params: dict[str, Any], project: dict[str, Any],
               ahead: list[dict[str, Any]]) -> dict[str, Any]:
    """What the item is: a change (change, patchset, change_url, its message and its
    refs/changes ref) or, as Zuul gives a ref update or a periodic branch tip, a ref with
    ``oldrev`` and ``newrev`` and no change. ``zuul.items`` lists, as in Zuul, the
    items the tested state holds ahead of this one (``ahead``), then this one."""
    if params.get("change") is None and params.get("ref"):
        about = {"ref": params["ref"], "oldrev": params.get("oldrev"),
                 "newrev": params.get("newrev"),
                 "commit_id": params.get("newrev") or params.get("oldrev")}
        this = {"project": project, "branch": params.get("branch"), **about}
        return {**about, "items": [*ahead, this], "buildset_refs": [this],
                "build_refs": [this]}
    change, patchset = params.get("change"), params.get("patchset")
    messages = _message_vars(params.get("message"))
    about = {"change": str(change), "patchset": str(patchset),
             "change_url": params.get("change_url")}
    if params.get("topic"):  # Gerrit's topic, as its author wrote it: never templated
        about["topic"] = Unsafe(params["topic"])
    this = {"project": project, "branch": params.get("branch"), **about,
            "change_message": messages["change_message"]}
    return {**about, **messages,
            "ref": f"refs/changes/{int(change or 0) % 100:02d}/{change}/{patchset}",
            "items": [*ahead, this], "buildset_refs": [this], "build_refs": [this]}


def resolve_addresses(host: str) -> list[str]:
    """The IP addresses the host name ``host`` resolves to, in the resolver's order;
    [] when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def nodepool_var(node: dict[str, Any], address: str | None,
                 resolve: Callable[[str], list[str]] = resolve_addresses) -> dict[str, Any]:
    """Zuul's ``nodepool`` host var for ``node``, reached at ``address``.

    ``label``, ``provider`` and ``node_id`` come from the node. Its addresses, as
    nodepool's static driver gives them: ``interface_ip`` is the address Ansible
    connects to (a name stays a name), ``public_ipv4``/``public_ipv6`` what that
    resolves to. A static host has one address, so it is also ``private_ipv4``/
    ``private_ipv6``, which nodepool leaves empty for static hosts but Zuul's
    multi-node roles read. What the provider put in the node's ``nodepool`` host var
    is kept; the other keys Zuul documents (``az``, ``cloud``, ``region``, ...) are
    null, as Zuul gives those that do not apply.
    """
    ips: list[str] = []
    if address:
        try:  # an address is itself; only a name is looked up
            ips = [str(ipaddress.ip_address(address))]
        except ValueError:
            ips = resolve(address)
    v4 = next((ip for ip in ips if ipaddress.ip_address(ip).version == 4), None)
    v6 = next((ip for ip in ips if ipaddress.ip_address(ip).version == 6), None)
    given = (node.get("host_vars") or {}).get("nodepool")
    return {"az": None, "cloud": None, "region": None, "host_id": None,
            "external_id": None, "slot": None, "node_properties": {},
            "interface_ip": address, "public_ipv4": v4, "private_ipv4": v4,
            "public_ipv6": v6, "private_ipv6": v6,
            **(given if isinstance(given, dict) else {}),
            "label": node.get("label"), "provider": node.get("provider"),
            "node_id": node.get("id")}


def executor_user() -> str:
    """The executor's user name: the user of a local node's commands (its home is
    the node's work dir) and ssh's default user for remote nodes."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def inventory(job: FrozenJob, nodes: list[dict[str, Any]], variables: dict[str, Any],
              work_root: Path,
              resolve: Callable[[str], list[str]] = resolve_addresses) -> dict[str, Any]:
    """Zuul's inventory: one host per node (with its ``nodepool`` host var and its
    ``ansible_user``), groups from the nodeset, the job's host-vars on their hosts
    and group-vars on their groups, the job's variables in all.vars."""
    hosts: dict[str, Any] = {}
    for node in nodes:
        host_vars = dict(node.get("host_vars") or {})
        host_vars.pop(HOST_PATHS_VAR, None)  # the executor's, for the node's sandbox
        host_vars.pop(GPUS_VAR, None)  # likewise (the node has them as devices and env)
        host_vars.setdefault("ansible_host", node.get("hostname"))
        host_vars["nodepool"] = nodepool_var(node, host_vars["ansible_host"], resolve)
        if host_vars.get("ansible_connection") == "zuulish_local":
            host_vars["zuulish_work_dir"] = str(work_root)
            host_vars["ansible_user"] = executor_user()  # who runs the node's commands
        # as in Zuul's inventory, every host says who the user is; a remote node
        # without one is reached as ssh would reach it: as the executor's user
        host_vars.setdefault("ansible_user", executor_user())
        host_vars.update(job.host_vars.get(node["name"]) or {})  # the job's host-vars
        hosts[node["name"]] = host_vars
    children = {group: {"hosts": {name: None for name in members}}
                for group, members in job.nodeset.groups.items()}
    for group, group_vars in job.group_vars.items():
        if group in children:
            children[group]["vars"] = group_vars
    data: dict[str, Any] = {"all": {"hosts": hosts, "vars": variables}}
    if children:
        data["all"]["children"] = children
    return data
