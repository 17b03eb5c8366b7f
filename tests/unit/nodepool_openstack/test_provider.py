"""The openstack provider on the fake cloud through the unmodified openstacksdk:
servers, their tags, leak listing, resources of GPU and bare metal flavors,
boot from volume, floating IPs and quota."""

from __future__ import annotations

import base64
import threading
import time

import pytest

from tests.unit.nodepool_openstack.conftest import SYSTEM, connection, label
from zuulish.errors import ConfigError
from zuulish.nodepool import drivers
from zuulish.nodepool.cloud import (
    TAG_NODE,
    TAG_PROVIDER,
    TAG_REQUEST,
    TAG_SYSTEM,
    ErrorKind,
    InstanceState,
    LabelOffer,
    ProviderError,
)
from zuulish.nodepool.resources import Limits, Resources

pytestmark = pytest.mark.filterwarnings(
    "ignore::openstack.warnings.OpenStackDeprecationWarning",
    "ignore::openstack.warnings.RemovedInSDK50Warning",
    "ignore::openstack.warnings.RemovedInSDK60Warning")

TAGS = {TAG_SYSTEM: SYSTEM, TAG_PROVIDER: "os1", TAG_NODE: "0000000042",
        TAG_REQUEST: "200-0000000007"}


def ready(p, sid, polls: int = 5):
    for _ in range(polls):
        inst = p.status(sid)
        if inst.state != InstanceState.BUILDING:
            return inst
    raise AssertionError(f"{sid} still building after {polls} looks")


def test_the_driver_is_registered_and_making_a_provider_calls_no_cloud(cloud, provider):
    assert drivers.driver("openstack") is drivers.driver("openstack")
    assert {"image-id", "image-name", "username"} <= drivers.driver("openstack").image_keys
    assert "flavor-name" in drivers.driver("openstack").flavor_keys
    p = provider(labels=[label(min_ready=2)], launch_timeout=900, max_servers=3,
                 resource_limits={"instances": 5, "cores": 40})
    assert cloud.calls == []
    assert p.offers == {"small": LabelOffer("small", min_ready=2)}
    assert (p.launch_timeout, p.boot_timeout, p.launch_attempts, p.host_key_checking) == \
        (900.0, 120.0, 3, True)
    assert p.limits == Limits(instances=3, cores=40)


def test_happy_path_create_ready_delete(cloud, provider):
    image = {"name": "ubuntu", "image-name": "ubuntu-noble", "username": "ubuntu",
             "python-path": "/usr/bin/python3", "connection-port": 2222}
    p = provider(labels=[label(image=image, userdata="#cloud-config\n", az="nova")],
                 key_name="zuul", security_groups=["default", "ssh"])
    p.refresh()
    assert p.offers["small"].resources == Resources(instances=1, cores=2, ram_mb=2048)
    assert p.offers["small"].gpu_model is None and p.offers["small"].baremetal is None
    sid = p.create("small", TAGS)
    assert p.status(sid).state == InstanceState.BUILDING
    inst = ready(p, sid)
    assert inst.state == InstanceState.READY
    assert inst.hostname.startswith("10.0.0.") and inst.port == 2222
    assert inst.host_vars == {"ansible_host": inst.hostname, "ansible_port": 2222,
                              "ansible_user": "ubuntu",
                              "ansible_python_interpreter": "/usr/bin/python3"}
    (post,) = cloud.calls_to("POST", r"/compute/v2\.1/servers$")
    body = post.body["server"]
    assert body["networks"] == [{"uuid": cloud.private.id}]
    assert body["key_name"] == "zuul" and body["availability_zone"] == "nova"
    assert body["security_groups"] == [{"name": "default"}, {"name": "ssh"}]
    assert base64.b64decode(body["user_data"]) == b"#cloud-config\n"
    assert body["imageRef"] == next(iter(cloud.images))
    assert body["flavorRef"] == next(iter(cloud.flavors))
    assert body["name"] == "zuulish-os1-small-0000000042"
    server = cloud.servers[sid]
    assert server.security_groups == ["default", "ssh"] and server.key_name == "zuul"
    p.delete(sid)
    assert p.status(sid).state == InstanceState.GONE
    assert cloud.servers == {}


def test_tags_are_nova_metadata_and_instances_lists_only_ours(cloud, provider):
    p = provider()
    ours = [p.create("small", {**TAGS, TAG_NODE: str(n)}) for n in range(2)]
    other = provider()  # another zuulish (another system id) on the same project
    other.system_id = "someone-else"
    foreign = other.create("small", {TAG_SYSTEM: "someone-else"})
    untagged = p.conn.compute.create_server(  # made by hand, not zuulish's
        name="pet", image_id=next(iter(cloud.images)), flavor_id=next(iter(cloud.flavors)),
        networks=[{"uuid": cloud.private.id}])
    assert cloud.servers[ours[0]].metadata == {**TAGS, TAG_NODE: "0",
                                               "zuulish-label": "small"}
    listed = {i.external_id: i for i in p.instances()}
    assert set(listed) == {*ours, foreign}  # every TAG_SYSTEM, whatever its value
    assert untagged.id not in listed
    assert listed[ours[1]].tags[TAG_NODE] == "1"
    assert listed[ours[1]].tags[TAG_REQUEST] == "200-0000000007"
    assert listed[foreign].tags[TAG_SYSTEM] == "someone-else"
    assert {i.state for i in listed.values()} <= {InstanceState.BUILDING, InstanceState.READY}
    with pytest.raises(ProviderError, match="does not fit Nova's metadata") as raised:
        p.create("small", {**TAGS, TAG_REQUEST: "x" * 256})
    assert raised.value.kind == ErrorKind.PERMANENT
    for sid in (*ours, foreign):
        p.delete(sid)
    assert list(cloud.servers) == [untagged.id]  # none leaked; the pet is left alone


def test_gpu_and_baremetal_flavors_fill_the_offers(cloud, provider):
    cloud.add_flavor("g.vgpu", 8, 32768, 80, extra_specs={"resources:VGPU": "2"})
    cloud.add_flavor("g.pci", 16, 65536, 100,
                     extra_specs={"pci_passthrough:alias": "a100:2,a100-nvlink:1"})
    cloud.add_flavor("g.cyborg", 8, 16384, 80,
                     extra_specs={"accel:device_profile": "nvidia-l4"})
    cloud.add_flavor("bm.gpu", 64, 524288, 900, extra_specs={
        "resources:CUSTOM_BAREMETAL_GPU": "1", "resources:VCPU": "0",
        "resources:MEMORY_MB": "0", "resources:DISK_GB": "0"})
    flavor = cloud.add_flavor("by-id", 4, 8192, 40, extra_specs={"resources1:VGPU": "1"})
    labels = [label("vgpu", flavor={"name": "vgpu", "flavor-name": "g.vgpu"},
                    **{"gpu-model": "nvidia-a10"}),
              label("pci", flavor={"name": "g.pci"}),
              label("cyborg", flavor={"name": "g.cyborg"}, gpus=2),
              label("metal", flavor={"name": "bm", "flavor-name": "bm.gpu"}, gpus=8,
                    **{"gpu-model": "h100"}),
              label("by-id", flavor={"name": "x", "flavor-name": flavor.id})]
    p = provider(labels=labels)
    p.refresh()
    o = p.offers
    assert (o["vgpu"].resources, o["vgpu"].gpu_model) == \
        (Resources(instances=1, cores=8, ram_mb=32768, gpus=2), "nvidia-a10")
    assert (o["pci"].resources.gpus, o["pci"].gpu_model) == (3, "a100+a100-nvlink")
    assert (o["cyborg"].resources.gpus, o["cyborg"].gpu_model) == (2, "nvidia-l4")
    assert o["metal"] == LabelOffer("metal", Resources(1, 64, 524288, 8), "h100", 0,
                                    "CUSTOM_BAREMETAL_GPU")
    assert (o["by-id"].resources.gpus, o["by-id"].gpu_model) == (1, "vgpu")
    assert all(o[n].baremetal is None for n in ("vgpu", "pci", "cyborg", "by-id"))
    # a job asking for GPUs, not a flavor, is served by the flavor's label
    cloud.set_quota(ram=-1)
    sid = p.create("pci", TAGS)
    assert cloud.servers[sid].flavor.name == "g.pci"
    p.delete(sid)
    assert cloud.servers == {}


def test_boot_from_volume_sends_a_volume_made_from_the_image(cloud, provider):
    p = provider(labels=[label("bfv", **{"boot-from-volume": True}),
                         label("sized", flavor={"name": "m1.small", "volume-size": 50},
                               **{"boot-from-volume": True})])
    first, second = p.create("bfv", TAGS), p.create("sized", TAGS)
    image_id = next(iter(cloud.images))
    bodies = [c.body["server"] for c in cloud.calls_to("POST", r"/compute/v2\.1/servers$")]
    for body, size in zip(bodies, (20, 50), strict=True):  # the flavor's disk, or volume-size
        assert body["block_device_mapping_v2"] == [{
            "boot_index": 0, "uuid": image_id, "source_type": "image",
            "destination_type": "volume", "delete_on_termination": True,
            "volume_size": size}]
        assert not body.get("imageRef")
    assert cloud.servers[first].image_id == ""  # Nova: booted from a volume
    assert cloud.servers[first].volumes[0]["delete_on_termination"] is True
    assert ready(p, second).state == InstanceState.READY
    for sid in (first, second):
        p.delete(sid)
    assert cloud.servers == {}


def test_floating_ip_made_when_ready_reused_and_deleted_with_the_server(cloud, provider):
    p = provider(public_ipv4=True)
    sid = p.create("small", TAGS)
    assert p.status(sid).state == InstanceState.BUILDING
    assert cloud.floating_ips == {}  # nothing before the server is ACTIVE
    inst = ready(p, sid)
    (fip,) = cloud.floating_ips.values()
    assert inst.state == InstanceState.READY and inst.hostname == fip.address
    assert fip.address.startswith("172.24.4.") and fip.network_id == cloud.public.id
    assert fip.description == f"zuulish {SYSTEM} server {sid}"
    assert fip.fixed_ip_address.startswith("10.0.0.")
    assert p.status(sid).hostname == fip.address  # seen in Nova's addresses now
    assert len(cloud.floating_ips) == 1
    assert p.instances()[0].hostname == fip.address
    p.delete(sid)
    assert cloud.floating_ips == {} and cloud.servers == {}


def test_floating_ip_choices_and_private_addresses(cloud, provider):
    labels = [label("private"), label("always", **{"floating-ip": True}),
              label("never", **{"floating-ip": False, "public-ipv4": True}),
              label("v4-only", **{"address-preference": ["public-ipv4"],
                                  "floating-ip": False})]
    p = provider(labels=labels)
    sids = {name: p.create(name, {**TAGS, TAG_NODE: name}) for name in
            ("private", "always", "never", "v4-only")}
    seen = {name: ready(p, sid) for name, sid in sids.items()}
    assert seen["private"].hostname.startswith("10.0.0.")
    assert seen["never"].hostname.startswith("10.0.0.")
    assert seen["always"].hostname.startswith("172.24.4.")
    assert seen["v4-only"].state == InstanceState.FAILED
    assert "no address zuulish may use" in seen["v4-only"].reason
    assert len(cloud.floating_ips) == 1
    for sid in sids.values():
        p.delete(sid)
    assert cloud.servers == {} and cloud.floating_ips == {}


def test_leaked_floating_ips_are_cleaned_up(cloud, provider):
    p = provider()
    net = p.conn.network
    ours = net.create_ip(floating_network_id=cloud.public.id,
                         description=f"zuulish {SYSTEM} server gone-long-ago")
    theirs = net.create_ip(floating_network_id=cloud.public.id, description="a pet's")
    other_system = net.create_ip(floating_network_id=cloud.public.id,
                                 description="zuulish other server 1")
    assert ours.id in cloud.floating_ips
    assert p.instances() == []
    assert set(cloud.floating_ips) == {theirs.id, other_system.id}
    cleaner = provider(floating_ip_cleanup=True)  # Zuul's: every unattached one
    assert cleaner.instances() == []
    assert cloud.floating_ips == {}


def test_quota_comes_from_novas_limits(cloud, provider):
    p = provider()
    assert p.quota() == Limits(instances=10, cores=20, ram_mb=51200)
    cloud.set_quota(instances=4, cores=-1, ram=-1)
    assert p.quota() == Limits(instances=4)
    (call,) = cloud.calls_to("GET", r"/limits$")[-1:]
    assert call.status == 200


def test_one_connection_is_shared_by_threads(cloud, provider):
    p = provider()
    errors: list[BaseException] = []
    made: list[str] = []

    def work() -> None:
        try:
            made.append(p.create("small", TAGS))
        except BaseException as exc:  # pragma: no cover - the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(made)) == 8
    assert len(cloud.calls_to("POST", r"/auth/tokens$")) == 1  # one connection, one token
    assert len(cloud.calls_to("GET", r"^/compute/v2\.1$")) == 1  # discovered once
    assert len(cloud.calls_to("GET", r"/flavors/detail$")) == 1  # refreshed once
    for sid in made:
        p.delete(sid)
    assert cloud.servers == {}


def test_a_clouds_yaml_cloud(cloud, provider, tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"""
clouds:
  fake:
    auth:
      auth_url: {cloud.auth_url}
      username: zuul
      password: secret
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
""")
    p = provider(conn={"driver": "openstack", "cloud": "fake", "rate": 100,
                       "client_config_file": str(clouds), "api-timeout": 5})
    p.refresh()
    assert p.offers["small"].resources.cores == 2
    missing = provider(conn={"driver": "openstack", "cloud": "nowhere",
                             "client_config_file": str(clouds)})
    with pytest.raises(ProviderError, match="nowhere") as raised:
        missing.refresh()
    assert raised.value.kind == ErrorKind.PERMANENT


@pytest.mark.parametrize(("conn", "attrs", "labels", "message"), [
    ({"driver": "openstack"}, {}, None, "needs 'cloud'"),
    ({"driver": "openstack", "cloud": "x", "colud": "y"}, {}, None, "no option 'colud'"),
    (None, {"floating-ip": "sometimes"}, None, "'floating-ip' must be true, false or auto"),
    (None, {"address-preference": ["public"]}, None, "'address-preference' has 'public'"),
    (None, {}, [label(image={"name": "a", "image-id": "1", "image-name": "b"})],
     "both 'image-id' and 'image-name'"),
    (None, {}, [label(gpus=-1)], "'gpus' must be a whole number"),
    (None, {"networks": [1]}, None, "'networks' must be a name or a list of names"),
])
def test_bad_configuration_is_refused_naming_the_key(cloud, provider, conn, attrs, labels,
                                                     message):
    with pytest.raises(ConfigError, match=message):
        provider(labels=labels, conn=conn, **{k.replace("-", "_"): v
                                              for k, v in attrs.items()})
    assert cloud.calls == []


def test_default_api_timeout_and_a_rate_limit(cloud, provider):
    # The SDK's limiter spaces calls from the moment it was made, not from the last
    # call: time spent idle (a slow refresh on a busy machine) is credit that lets the
    # next calls go at once. So the clock starts before the connection exists: from
    # then, the 11th compute call cannot start before 11 x 1/20 s have passed.
    started = time.monotonic()
    p = provider(conn=connection(cloud, rate=20, **{"api-timeout": None}))
    p.refresh()  # the default timeout (60 s) applies
    assert p.offers["small"].resources.ram_mb == 2048
    for _ in range(11):
        p.quota()
    # 0.55 s at least; a margin for the limiter's wall clock against this monotonic one
    assert time.monotonic() - started >= 0.5
