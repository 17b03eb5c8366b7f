"""The inventory a build's playbooks get: Zuul's ``nodepool`` host var on each
host, the nodeset's groups, and the job's host-vars and group-vars."""

from __future__ import annotations

from pathlib import Path

from zuulish.executor.job_vars import inventory, nodepool_var, resolve_addresses
from zuulish.model import FrozenJob
from zuulish.model.nodeset import NodeSet, NodeSpec

WORK = Path("/builds/b1/work")


def static_node(name: str, node_id: int, address: str, label: str) -> dict:
    return {"id": node_id, "name": name, "label": label, "hostname": address,
            "provider": "rack", "host_keys": ["ssh-ed25519 AAAA"],
            "host_vars": {"ansible_host": address, "ansible_port": 22, "ansible_user": "zuul"}}


def two_node_job() -> FrozenJob:
    return FrozenJob(
        name="multi",
        nodeset=NodeSet(nodes=(NodeSpec("controller", "big"), NodeSpec("worker", "small")),
                        groups={"leaders": ("controller",), "peers": ("controller", "worker")}),
        host_vars={"controller": {"role": "leader"}},
        group_vars={"peers": {"port": 7000}, "nobody": {"unused": True}})


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"{host} should not need a lookup")


def test_each_host_gets_its_nodepool_var_with_its_addresses() -> None:
    inv = inventory(two_node_job(), [static_node("controller", 7, "192.0.2.10", "big"),
                                     static_node("worker", 8, "2001:db8::5", "small")],
                    {"zuul": {}}, WORK, resolve=resolve_addresses)
    hosts = inv["all"]["hosts"]
    controller = hosts["controller"]["nodepool"]
    assert {k: controller[k] for k in ("label", "provider", "node_id", "interface_ip",
                                       "public_ipv4", "private_ipv4", "public_ipv6")} == {
        "label": "big", "provider": "rack", "node_id": 7, "interface_ip": "192.0.2.10",
        "public_ipv4": "192.0.2.10", "private_ipv4": "192.0.2.10", "public_ipv6": None}
    worker = hosts["worker"]["nodepool"]
    assert (worker["label"], worker["node_id"], worker["interface_ip"], worker["public_ipv6"],
            worker["private_ipv6"], worker["public_ipv4"]) == (
        "small", 8, "2001:db8::5", "2001:db8::5", "2001:db8::5", None)
    # the keys Zuul documents that do not apply are there, and null
    assert controller["az"] is None and controller["cloud"] is None \
        and controller["slot"] is None


def test_a_host_name_keeps_its_name_as_interface_ip_and_resolves_to_its_addresses() -> None:
    node = static_node("box", 3, "build1.example.org", "big")
    var = nodepool_var(node, "build1.example.org",
                       lambda host: ["2001:db8::9", "198.51.100.4"])
    assert (var["interface_ip"], var["public_ipv4"], var["private_ipv4"],
            var["public_ipv6"]) == ("build1.example.org", "198.51.100.4", "198.51.100.4",
                                    "2001:db8::9")


def test_a_name_that_does_not_resolve_leaves_the_addresses_null() -> None:
    var = nodepool_var(static_node("box", 3, "gone.invalid", "big"), "gone.invalid",
                       lambda host: [])
    assert var["interface_ip"] == "gone.invalid"
    assert var["public_ipv4"] is None and var["private_ipv4"] is None


def test_what_the_provider_put_in_the_nodepool_var_is_kept() -> None:
    node = static_node("box", 3, "203.0.113.8", "big")
    node["host_vars"]["nodepool"] = {"private_ipv4": "10.1.0.8", "cloud": "east",
                                     "label": "not-this"}
    var = nodepool_var(node, "203.0.113.8", resolve_addresses)
    assert (var["private_ipv4"], var["public_ipv4"], var["cloud"], var["label"]) == (
        "10.1.0.8", "203.0.113.8", "east", "big")


def test_a_local_node_is_at_the_loopback_address() -> None:
    node = {"id": 1, "name": "node", "label": "local", "hostname": "localhost",
            "provider": "local", "host_vars": {"ansible_connection": "zuulish_local"}}
    inv = inventory(FrozenJob(name="j", nodeset=NodeSet(nodes=(NodeSpec("node", "local"),))),
                    [node], {}, WORK, resolve=lambda host: ["127.0.0.1"])
    host = inv["all"]["hosts"]["node"]
    assert host["nodepool"]["interface_ip"] == "localhost"
    assert host["nodepool"]["private_ipv4"] == "127.0.0.1"
    assert host["zuulish_work_dir"] == str(WORK)


def test_groups_host_vars_and_group_vars_reach_their_hosts() -> None:
    inv = inventory(two_node_job(), [static_node("controller", 7, "192.0.2.10", "big"),
                                     static_node("worker", 8, "192.0.2.11", "small")],
                    {"color": "blue"}, WORK, resolve=no_dns)
    assert inv["all"]["vars"] == {"color": "blue"}
    assert inv["all"]["hosts"]["controller"]["role"] == "leader"
    assert "role" not in inv["all"]["hosts"]["worker"]
    assert inv["all"]["children"] == {
        "leaders": {"hosts": {"controller": None}},
        "peers": {"hosts": {"controller": None, "worker": None}, "vars": {"port": 7000}}}


def test_every_host_says_who_its_user_is() -> None:
    """``ansible_user`` in each host's vars, as in Zuul's inventory: the provider's
    for a static node, the executor's user for a local node (whose home is the work
    dir) and for a remote node without one (ssh's default)."""
    import getpass

    local = {"id": 1, "name": "controller", "label": "local", "hostname": "localhost",
             "provider": "local", "host_vars": {"ansible_connection": "zuulish_local"}}
    remote = static_node("worker", 2, "192.0.2.7", "small")
    del remote["host_vars"]["ansible_user"]
    inv = inventory(two_node_job(), [local, remote], {}, WORK,
                    resolve=lambda host: ["127.0.0.1"])
    hosts = inv["all"]["hosts"]
    assert hosts["controller"]["ansible_user"] == getpass.getuser()
    assert hosts["worker"]["ansible_user"] == getpass.getuser()
    inv = inventory(two_node_job(), [local, static_node("worker", 2, "192.0.2.7", "small")],
                    {}, WORK, resolve=lambda host: ["127.0.0.1"])
    assert inv["all"]["hosts"]["worker"]["ansible_user"] == "zuul"
