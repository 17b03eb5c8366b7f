"""The fake cloud through the unmodified openstacksdk: what the openstack provider does
when all goes well (servers, flavors, limits, key pairs, images, networks, floating IPs)."""

from __future__ import annotations

import pytest
from openstack import exceptions

from tests.fakes.openstack import FakeOpenStack
from tests.fakes.openstack.state import Flavor, Image

ZUULISH_META = {"zuulish-provider": "cloud-a", "zuulish-node": "0000000001"}

# the SDK's own notes about its future (deprecated fields and parameters it uses itself)
pytestmark = pytest.mark.filterwarnings(
    "ignore::openstack.warnings.OpenStackDeprecationWarning",
    "ignore::openstack.warnings.RemovedInSDK50Warning",
    "ignore::openstack.warnings.RemovedInSDK60Warning")


def boot(conn, cloud: FakeOpenStack, flavor: Flavor, image: Image, name: str = "node-1",
         **extra):
    server = conn.compute.create_server(
        name=name, image_id=image.id, flavor_id=flavor.id,
        networks=[{"uuid": cloud.private.id}], metadata=dict(ZUULISH_META), **extra)
    return conn.compute.wait_for_server(server, interval=0.02, wait=5)


def test_server_boots_lists_by_metadata_and_deletes(cloud, conn, flavor, image):
    conn.compute.create_keypair(name="zuulish", public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"
                                "AAAAIDnXr0p8a3s1f0Yw4Eacb6F8dZUO0WVkq6HhzEcmk6V8 zuulish")
    server = boot(conn, cloud, flavor, image, key_name="zuulish",
                  security_groups=[{"name": "ssh"}])
    assert server.status == "ACTIVE"
    assert server.flavor.original_name == "m1.small"  # 2.47+: the flavor, embedded
    (address,) = server.addresses["private"]
    assert address["OS-EXT-IPS:type"] == "fixed" and address["addr"].startswith("10.0.0.")
    assert server.key_name == "zuulish"
    # BUILD was seen once before ACTIVE: the default behaviour is ACTIVE at the 2nd read
    reads = cloud.calls_to("GET", rf"/servers/{server.id}$")
    assert len(reads) == 2

    (create,) = cloud.calls_to("POST", r"/compute/v2\.1/servers$")
    assert create.body["server"]["imageRef"] == image.id
    assert create.body["server"]["metadata"] == ZUULISH_META
    assert create.microversion == "2.96"  # the SDK's 2.100 negotiated down to the cloud's

    other = conn.compute.create_server(name="someone-else", image_id=image.id,
                                       flavor_id=flavor.id,
                                       networks=[{"uuid": cloud.private.id}])
    ours = [s for s in conn.compute.servers(details=True)
            if s.metadata.get("zuulish-provider") == "cloud-a"]
    assert [s.id for s in ours] == [server.id]
    assert [s.id for s in conn.compute.servers(name="^someone")] == [other.id]

    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.02, wait=5)
    assert conn.compute.find_server(server.id) is None
    assert [s.id for s in conn.compute.servers()] == [other.id]
    assert [s.id for s in cloud.deleted_servers] == [server.id]
    assert not [p for p in cloud.ports.values() if p.device_id == server.id]


def test_server_pages_are_followed(cloud, conn, flavor, image):
    ids = {conn.compute.create_server(name=f"n{i}", image_id=image.id, flavor_id=flavor.id,
                                      networks="none").id for i in range(3)}
    assert {s.id for s in conn.compute.servers(details=True, limit=2)} == ids
    pages = cloud.calls_to("GET", r"/servers/detail$")
    # the first page has none; then the SDK follows servers_links (and asks once more
    # after the short last page, as it does against Nova)
    assert "marker" not in pages[0].query and len(pages) >= 2
    assert all(c.query.get("marker") for c in pages[1:])


def test_gpu_and_bare_metal_flavors_carry_extra_specs(cloud, conn):
    specs = {
        "gpu-vgpu": {"resources:VGPU": "1"},
        "gpu-a100x2": {"pci_passthrough:alias": "a100:2"},
        "gpu-cyborg": {"accel:device_profile": "fpga-profile"},
        "bm-gold": {"resources:CUSTOM_BAREMETAL_GOLD": "1", "resources:VCPU": "0",
                    "resources:MEMORY_MB": "0", "resources:DISK_GB": "0"},
    }
    for name, spec in specs.items():
        cloud.add_flavor(name, 8, 65536, 100, extra_specs=spec)
    cloud.add_flavor("hidden", is_public=False)
    shared = cloud.add_flavor("shared-with-demo", is_public=False, projects=[cloud.project.id])
    specs[shared.name] = {}
    listed = {f.name: f.extra_specs for f in conn.compute.flavors(details=True)}
    # 2.61: extra specs in the flavor itself; private flavors hidden unless shared with us
    assert listed == specs
    flavor = conn.compute.find_flavor("gpu-a100x2")
    fetched = conn.compute.fetch_flavor_extra_specs(flavor)
    assert fetched.extra_specs == {"pci_passthrough:alias": "a100:2"}
    assert cloud.calls_to("GET", r"/os-extra_specs$")


def test_limits_show_quota_and_usage(cloud, conn, flavor, image):
    cloud.set_quota(instances=5, cores=16, ram=32768)
    boot(conn, cloud, flavor, image)
    limits = conn.compute.get_limits().absolute
    assert (limits.instances, limits.total_cores, limits.total_ram) == (5, 16, 32768)
    assert (limits.instances_used, limits.total_cores_used, limits.total_ram_used) == \
        (1, 2, 2048)


def test_key_pairs_are_created_listed_and_deleted(conn):
    given = conn.compute.create_keypair(
        name="given", public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDnXr0p8a3s1f0Yw4Eacb6"
        "F8dZUO0WVkq6HhzEcmk6V8 me")
    assert given.fingerprint.count(":") == 15 and not given.private_key
    generated = conn.compute.create_keypair(name="generated")
    assert generated.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert sorted(k.name for k in conn.compute.keypairs()) == ["generated", "given"]
    with pytest.raises(exceptions.ConflictException, match="already exists"):
        conn.compute.create_keypair(name="given")
    conn.compute.delete_keypair("given")
    assert [k.name for k in conn.compute.keypairs()] == ["generated"]
    assert conn.compute.find_keypair("given") is None


def test_images_and_networks_are_found_by_name(cloud, conn, image):
    found = conn.image.find_image("ubuntu-noble")
    assert found.id == image.id and found.status == "active"
    assert found.os_distro == "ubuntu"  # a property the SDK knows
    assert found.properties["zuulish_label"] == "ubuntu-gpu"  # one it does not
    assert conn.image.find_image("no-such-image") is None
    assert conn.network.find_network("private").id == cloud.private.id
    assert conn.network.find_network("public").is_router_external


def test_boot_from_volume(cloud, conn, flavor, image):
    server = conn.compute.create_server(
        name="bfv", flavor_id=flavor.id, networks=[{"uuid": cloud.private.id}],
        block_device_mapping=[{"boot_index": 0, "uuid": image.id, "source_type": "image",
                               "destination_type": "volume", "volume_size": 40,
                               "delete_on_termination": True}])
    server = conn.compute.wait_for_server(server, interval=0.02, wait=5)
    assert not server.image  # Nova answers "" for a server booted from a volume
    (volume,) = server.attached_volumes
    assert volume["delete_on_termination"] is True
    (create,) = cloud.calls_to("POST", r"/servers$")
    assert create.body["server"]["block_device_mapping_v2"][0]["volume_size"] == 40


def test_floating_ip_is_associated_and_released_with_the_server(cloud, conn, flavor, image):
    server = boot(conn, cloud, flavor, image)
    (port,) = conn.network.ports(device_id=server.id)
    fip = conn.network.create_ip(floating_network_id=cloud.public.id)
    assert fip.status == "DOWN" and fip.floating_ip_address.startswith("172.24.4.")
    fip = conn.network.update_ip(fip, port_id=port.id)
    assert fip.fixed_ip_address == server.addresses["private"][0]["addr"]
    addresses = conn.compute.get_server(server.id).addresses["private"]
    assert [a["OS-EXT-IPS:type"] for a in addresses] == ["fixed", "floating"]
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.02, wait=5)
    assert conn.network.get_ip(fip.id).port_id is None  # Neutron keeps it, unbound
    conn.network.delete_ip(fip)
    assert list(conn.network.ips()) == []


def test_cloud_layer_adds_a_floating_ip(cloud, conn, flavor, image):
    server = boot(conn, cloud, flavor, image)
    conn.add_auto_ip(server, wait=True, timeout=5)
    (fip,) = conn.network.ips()
    assert fip.port_id and fip.floating_ip_address in [
        a["addr"] for a in conn.compute.get_server(server.id).addresses["private"]]


def test_application_credentials_authenticate(cloud, connect):
    cred = cloud.add_app_credential("zuulish-launcher", "s3cret")
    conn = connect(auth_type="v3applicationcredential", username=None, password=None,
                   project_name=None, user_domain_name=None, project_domain_name=None,
                   application_credential_id=cred.id, application_credential_secret="s3cret")
    assert list(conn.compute.servers()) == []
    (auth,) = cloud.calls_to("POST", r"/auth/tokens$")
    assert auth.body["auth"]["identity"]["methods"] == ["application_credential"]


def test_servers_are_listed_by_tag(cloud, conn, flavor, image):
    tagged = conn.compute.create_server(name="tagged", image_id=image.id, flavor_id=flavor.id,
                                        networks="none", tags=["zuulish", "pool-a"])
    conn.compute.create_server(name="plain", image_id=image.id, flavor_id=flavor.id,
                               networks="none")
    assert [s.id for s in conn.compute.servers(tags="zuulish")] == [tagged.id]
    assert [s.name for s in conn.compute.servers(details=True, any_tags="pool-a,pool-b")] \
        == ["tagged"]
    assert [s.name for s in conn.compute.servers(not_tags="zuulish")] == ["plain"]
    assert conn.compute.get_server(tagged.id).tags == ["zuulish", "pool-a"]


def test_private_flavors_and_images_of_others_are_invisible(cloud, conn, flavor, image):
    secret_flavor = cloud.add_flavor("other-teams", is_public=False)
    other = cloud.add_project("other")
    secret_image = cloud.add_image("their-image", visibility="private", owner=other.id)
    assert conn.compute.find_flavor(secret_flavor.id) is None
    assert conn.image.find_image(secret_image.id) is None
    with pytest.raises(exceptions.BadRequestException, match="could not be found"):
        conn.compute.create_server(name="n", image_id=image.id, flavor_id=secret_flavor.id,
                                   networks="none")


def test_the_cloud_layer_boots_by_names_and_deletes(cloud, conn, flavor, image):
    """openstacksdk's cloud layer (``conn.create_server``), as nodepool drives clouds."""
    cloud.default_behaviour.build_polls = 1  # its wait polls every 5 s: ACTIVE at once
    server = conn.create_server("cl-node", image="ubuntu-noble", flavor="m1.small",
                                network="private", meta=dict(ZUULISH_META), wait=True,
                                timeout=10, auto_ip=False)
    assert server.status == "ACTIVE" and server.private_v4.startswith("10.0.0.")
    bfv = conn.create_server("cl-bfv", image="ubuntu-noble", flavor="m1.small",
                             network="private", boot_from_volume=True, volume_size=40,
                             wait=False)
    (create,) = cloud.calls_to("POST", r"/servers$")[1:]
    # the cloud layer sends numbers as strings and an empty imageRef; Nova takes both
    (bdm,) = create.body["server"]["block_device_mapping_v2"]
    assert (bdm["volume_size"], bdm["boot_index"], create.body["server"]["imageRef"]) == \
        ("40", "0", "")
    assert {s.name for s in conn.list_servers()} == {"cl-node", "cl-bfv"}
    assert conn.get_compute_limits().instances_used == 2
    assert conn.delete_server("cl-node", wait=True, timeout=10)
    assert conn.delete_server(bfv.id, wait=True, timeout=10)
    assert cloud.servers == {}


def test_a_build_moves_on_only_when_the_server_is_looked_at(cloud, conn, flavor, image):
    a = conn.compute.create_server(name="a", image_id=image.id, flavor_id=flavor.id,
                                   networks="none")
    b = conn.compute.create_server(name="b", image_id=image.id, flavor_id=flavor.id,
                                   networks="none")
    statuses = [[s.status for s in conn.compute.servers(details=True, name="^a$")]
                for _ in range(2)]
    assert statuses == [["BUILD"], ["ACTIVE"]]
    assert list(conn.compute.servers(details=False, name="^b$"))  # a summary: no look
    assert (cloud.servers[a.id].polls, cloud.servers[b.id].polls) == (2, 0)
    assert cloud.servers[b.id].status == "BUILD"
