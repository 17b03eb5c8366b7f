"""The openstack provider when the cloud goes wrong: wrong credentials, a token
expiring mid-run, unknown flavors and images, 500s, timeouts, quota at create and
during the boot, servers stuck building or failing, and deletes of gone servers."""

from __future__ import annotations

import re
import time

import pytest

from tests.unit.nodepool_openstack.conftest import connection, label
from tests.unit.nodepool_openstack.test_provider import TAGS, ready
from zuulish.nodepool.cloud import ErrorKind, InstanceState, ProviderError

pytestmark = pytest.mark.filterwarnings(
    "ignore::openstack.warnings.OpenStackDeprecationWarning",
    "ignore::openstack.warnings.RemovedInSDK50Warning",
    "ignore::openstack.warnings.RemovedInSDK60Warning")


def test_wrong_password_is_permanent_and_says_so(cloud, provider):
    p = provider(conn=connection(cloud, password="wrong"))
    for call in (p.refresh, p.quota, p.instances, lambda: p.create("small", TAGS),
                 lambda: p.status("x"), lambda: p.delete("x")):
        with pytest.raises(ProviderError, match="authentication failed.*requires "
                                                "authentication") as raised:
            call()
        assert raised.value.kind == ErrorKind.PERMANENT
    assert cloud.servers == {}


def test_a_token_expiring_mid_run_is_renewed(cloud, provider):
    p = provider()
    sid = p.create("small", TAGS)
    cloud.expire_tokens()
    assert ready(p, sid).state == InstanceState.READY
    assert len(cloud.calls_to("POST", r"/auth/tokens$")) == 2
    assert [c.status for c in cloud.calls_to("GET", rf"/servers/{sid}$")][0] == 401
    p.delete(sid)
    assert cloud.servers == {}


def test_unknown_flavor_image_and_network_are_permanent_and_named(cloud, provider):
    cases = [
        (label(flavor={"name": "m1.huge"}), {}, "flavor 'm1.huge' does not exist"),
        (label(image={"name": "fedora-41"}), {}, "image 'fedora-41' does not exist"),
        (label(image={"name": "x", "image-id": "no-such-id"}), {},
         "image id 'no-such-id' does not exist"),
        (label(), {"networks": ["nowhere"]}, "network 'nowhere' does not exist"),
    ]
    for lab, attrs, message in cases:
        p = provider(labels=[lab], **attrs)
        p.refresh()  # the provider's other labels stay usable: this one has its error
        error = p.offers["small"].error or ""
        assert re.search(message, error) and "label 'small'" in error
        with pytest.raises(ProviderError, match=message) as raised:  # create refuses
            p.create("small", TAGS)
        assert raised.value.kind == ErrorKind.PERMANENT
    with pytest.raises(ProviderError, match="no label 'gpu'") as raised:
        provider().create("gpu", TAGS)
    assert raised.value.kind == ErrorKind.PERMANENT
    cloud.add_image("queued", status="queued")
    queued = provider(labels=[label(image={"name": "queued"})])
    queued.refresh()
    assert re.search(r"'queued' does not exist in the cloud \(it is queued\)",
                     queued.offers["small"].error or "")
    assert cloud.servers == {}


def test_a_flavor_deleted_after_refresh_is_novas_400(cloud, provider):
    p = provider()
    p.refresh()
    cloud.flavors.clear()
    with pytest.raises(ProviderError, match="Flavor .* could not be found") as raised:
        p.create("small", TAGS)
    assert raised.value.kind == ErrorKind.PERMANENT
    assert cloud.servers == {}


def test_a_bad_extra_spec_is_permanent_naming_the_flavor(cloud, provider):
    cloud.add_flavor("broken", 4, 4096, 40, extra_specs={"resources:VGPU": "two"})
    broken = provider(labels=[label(flavor={"name": "broken"})])
    broken.refresh()
    assert "flavor 'broken': extra spec resources:VGPU='two' is not a whole number" in (
        broken.offers["small"].error or "")
    with pytest.raises(ProviderError, match="is not a whole number") as raised:
        broken.create("small", TAGS)
    assert raised.value.kind == ErrorKind.PERMANENT


def test_a_500_once_is_transient_then_it_works(cloud, provider):
    p = provider()
    p.refresh()
    cloud.fail("POST", r"/compute/v2\.1/servers$", times=1)
    with pytest.raises(ProviderError, match="Unexpected API Error") as raised:
        p.create("small", TAGS)
    assert raised.value.kind == ErrorKind.TRANSIENT
    assert cloud.servers == {}
    sid = p.create("small", TAGS)
    cloud.fail("GET", rf"/servers/{sid}$", times=1, status=503)
    with pytest.raises(ProviderError) as raised:
        p.status(sid)
    assert raised.value.kind == ErrorKind.TRANSIENT
    cloud.fail("GET", r"/flavors/detail$", times=1)
    with pytest.raises(ProviderError, match="listing flavors") as raised:
        p.refresh()
    assert raised.value.kind == ErrorKind.TRANSIENT
    cloud.fail("GET", r"/limits$", times=1)
    with pytest.raises(ProviderError, match="reading compute limits") as raised:
        p.quota()
    assert raised.value.kind == ErrorKind.TRANSIENT
    assert ready(p, sid).state == InstanceState.READY
    cloud.fail("DELETE", rf"/servers/{sid}$", times=1)
    with pytest.raises(ProviderError) as raised:
        p.delete(sid)
    assert raised.value.kind == ErrorKind.TRANSIENT
    p.delete(sid)
    assert cloud.servers == {}


def test_keystone_down_at_first_use_is_transient(cloud, provider):
    p = provider()
    cloud.fail("POST", r"/auth/tokens$", times=1, status=503)
    with pytest.raises(ProviderError, match="connecting to OpenStack") as raised:
        p.refresh()
    assert raised.value.kind == ErrorKind.TRANSIENT
    p.refresh()  # the next use connects


def test_an_api_timeout_is_transient(cloud, provider):
    p = provider(conn=connection(cloud, **{"api-timeout": 0.3}))
    sid = p.create("small", TAGS)
    cloud.delay("GET", rf"/servers/{sid}$", 1.0)
    with pytest.raises(ProviderError, match="timed out") as raised:
        p.status(sid)
    assert raised.value.kind == ErrorKind.TRANSIENT
    cloud.delay("POST", r"/compute/v2\.1/servers$", 1.0)
    with pytest.raises(ProviderError) as raised:
        p.create("small", TAGS)  # the cloud makes it anyway: a leak instances() lists
    assert raised.value.kind == ErrorKind.TRANSIENT
    deadline = time.monotonic() + 5
    while len(cloud.servers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked = [i.external_id for i in p.instances() if i.external_id != sid]
    assert len(leaked) == 1
    for server in (sid, *leaked):
        p.delete(server)
    assert cloud.servers == {}


def test_over_quota_at_create_is_quota_with_novas_message(cloud, provider):
    p = provider()
    cloud.set_quota(instances=1)
    first = p.create("small", TAGS)
    with pytest.raises(ProviderError, match="Quota exceeded for instances: Requested 1, but "
                                            "already used 1 of 1 instances") as raised:
        p.create("small", TAGS)
    assert raised.value.kind == ErrorKind.QUOTA
    assert list(cloud.servers) == [first]
    p.delete(first)
    assert cloud.servers == {}


def test_over_floating_ip_quota_fails_the_node_as_quota(cloud, provider):
    p = provider(public_ipv4=True)
    cloud.set_quota(floating_ips=0)
    sid = p.create("small", TAGS)
    inst = ready(p, sid)
    assert inst.state == InstanceState.FAILED and inst.error_kind == ErrorKind.QUOTA
    assert "Quota exceeded for resources: ['floatingip']" in inst.reason
    p.delete(sid)
    assert cloud.servers == {} and cloud.floating_ips == {}


@pytest.mark.parametrize(("fault", "kind"), [
    ("Quota exceeded for cores: Requested 8, but already used 16 of 20 cores",
     ErrorKind.QUOTA),
    ("No valid host was found. There are not enough hosts available.", ErrorKind.QUOTA),
    ("Build of instance 1 aborted: Failure prepping block device.", ErrorKind.TRANSIENT),
])
def test_a_server_going_to_error_is_failed_with_novas_fault(cloud, provider, fault, kind):
    p = provider()
    cloud.plan_next(outcome="error", fault=fault)
    sid = p.create("small", TAGS)
    assert p.status(sid).state == InstanceState.BUILDING
    inst = ready(p, sid)
    assert (inst.state, inst.reason, inst.error_kind) == (InstanceState.FAILED, fault, kind)
    assert [i.reason for i in p.instances()] == [fault]
    p.delete(sid)
    assert cloud.servers == {}


def test_a_server_stuck_building_stays_building(cloud, provider):
    p = provider()
    cloud.plan_next(outcome="stuck")
    sid = p.create("small", TAGS)
    for _ in range(6):
        assert p.status(sid).state == InstanceState.BUILDING  # the launcher times it out
    p.delete(sid)
    assert cloud.servers == {}


def test_other_states(cloud, provider):
    p = provider()
    sid = p.create("small", TAGS)
    cloud.set_server_status(sid, "SHUTOFF")
    inst = p.status(sid)
    assert inst.state == InstanceState.FAILED and inst.reason == "the server is SHUTOFF"
    cloud.set_server_status(sid, "ACTIVE")
    cloud.servers[sid].behaviour.delete_polls = 2
    p.delete(sid)  # accepted; Nova is still deleting it
    assert p.status(sid).reason == "being deleted"
    assert p.status(sid).state == InstanceState.GONE
    assert cloud.servers == {}


def test_deleting_a_gone_server_is_not_an_error(cloud, provider):
    p = provider(public_ipv4=True)
    sid = p.create("small", TAGS)
    ready(p, sid)
    p.delete(sid)
    p.delete(sid)
    p.delete("00000000-0000-4000-8000-000000000000")
    assert p.status(sid).state == InstanceState.GONE
    assert cloud.servers == {} and cloud.floating_ips == {}
    deletes = cloud.calls_to("DELETE", r"/servers/")
    assert [c.status for c in deletes] == [204, 404, 404]


def test_an_unreachable_cloud_is_transient(cloud, provider):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = provider(conn=connection(cloud, **{"auth-url": f"http://127.0.0.1:{port}/v3"}))
    with pytest.raises(ProviderError, match="connecting to OpenStack") as raised:
        p.refresh()
    assert raised.value.kind == ErrorKind.TRANSIENT
