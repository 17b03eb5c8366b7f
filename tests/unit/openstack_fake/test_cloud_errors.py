"""The fake cloud going wrong, as the openstack provider will meet it through the
unmodified openstacksdk: bad credentials, expired tokens, 500s, timeouts, quota,
servers that fail or never finish building, deletes that do not happen, bad requests."""

from __future__ import annotations

import pytest
import requests
from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions

from tests.fakes.openstack import FakeOpenStack

# the SDK's own notes about its future (deprecated fields and parameters it uses itself)
pytestmark = pytest.mark.filterwarnings(
    "ignore::openstack.warnings.OpenStackDeprecationWarning",
    "ignore::openstack.warnings.RemovedInSDK50Warning",
    "ignore::openstack.warnings.RemovedInSDK60Warning")


def create(conn, cloud: FakeOpenStack, flavor, image, name: str = "node", **extra):
    return conn.compute.create_server(name=name, image_id=image.id, flavor_id=flavor.id,
                                      networks=[{"uuid": cloud.private.id}], **extra)


def test_wrong_password_is_keystones_401(cloud, connect):
    conn = connect(password="wrong")
    with pytest.raises(ksa_exceptions.Unauthorized, match="requires authentication"):
        list(conn.compute.servers())
    raw = requests.post(cloud.auth_url + "/auth/tokens", timeout=5, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "zuul", "domain": {"name": "Default"}, "password": "wrong"}}}}})
    assert raw.status_code == 401
    assert raw.json() == {"error": {"code": 401, "title": "Unauthorized",
                                    "message": "The request you have made requires "
                                               "authentication."}}
    assert "X-Subject-Token" not in raw.headers


def test_token_and_catalog_shapes(cloud):
    raw = requests.post(cloud.auth_url + "/auth/tokens", timeout=5, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": cloud.user.id, "password": "secret"}}},
        "scope": {"project": {"id": cloud.project.id}}}})
    assert raw.status_code == 201 and raw.headers["X-Subject-Token"]
    token = raw.json()["token"]
    assert token["expires_at"].endswith("Z") and token["project"]["name"] == "demo"
    by_type = {e["type"]: e["endpoints"] for e in token["catalog"]}
    assert sorted(by_type) == ["compute", "identity", "image", "network"]
    assert all(ep["region_id"] == "RegionOne" and ep["interface"] == "public"
               and ep["url"].startswith(cloud.url) for eps in by_type.values() for ep in eps)
    unscoped = requests.post(cloud.auth_url + "/auth/tokens", timeout=5, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": cloud.user.id, "password": "secret"}}}}}).json()["token"]
    assert "catalog" not in unscoped and "project" not in unscoped


def test_expired_token_is_renewed_by_the_sdk(cloud, conn, flavor):
    assert [f.name for f in conn.compute.flavors()] == ["m1.small"]
    assert len(cloud.calls_to("POST", r"/auth/tokens$")) == 1
    assert cloud.expire_tokens() == 1
    assert [f.name for f in conn.compute.flavors()] == ["m1.small"]
    statuses = [c.status for c in cloud.calls_to("GET", r"/flavors/detail$")]
    assert statuses == [200, 401, 200]  # refused, re-authenticated, asked again
    assert len(cloud.calls_to("POST", r"/auth/tokens$")) == 2


def test_short_lived_tokens_are_renewed_before_they_expire(cloud, connect, flavor):
    cloud.token_lifetime = 60.0  # keystoneauth renews tokens within 120 s of expiry
    conn = connect(auth_url=f"{cloud.url}/identity")  # unversioned: discovery at /identity
    for _ in range(3):
        assert [f.name for f in conn.compute.flavors()] == ["m1.small"]
    assert len(cloud.calls_to("POST", r"/auth/tokens$")) > 3
    assert all(c.status == 200 for c in cloud.calls_to("GET", r"/flavors/detail$"))
    assert cloud.calls_to("GET", r"^/identity$")[0].status == 300


def test_a_500_is_raised_once_then_the_call_succeeds(cloud, conn, flavor, image):
    cloud.fail("GET", r"/flavors/detail$", times=1)
    with pytest.raises(exceptions.HttpException) as raised:
        list(conn.compute.flavors())
    assert raised.value.status_code == 500
    assert "Unexpected API Error" in str(raised.value)
    assert [f.name for f in conn.compute.flavors()] == ["m1.small"]
    assert [c.status for c in cloud.calls_to("GET", r"/flavors/detail$")] == [500, 200]

    cloud.fail("POST", r"/servers$", times=1, status=503)
    with pytest.raises(exceptions.HttpException) as raised:
        create(conn, cloud, flavor, image)
    assert raised.value.status_code == 503 and cloud.servers == {}  # nothing was built
    assert create(conn, cloud, flavor, image).id in cloud.servers


def test_a_slow_cloud_times_the_client_out(cloud, connect, flavor):
    conn = connect(api_timeout=0.3)
    cloud.delay("GET", r"/flavors/detail$", 1.0)
    with pytest.raises(ksa_exceptions.ConnectTimeout, match="timed out"):
        list(conn.compute.flavors())
    assert [f.name for f in conn.compute.flavors()] == ["m1.small"]


def test_over_quota_surfaces_novas_message(cloud, conn, flavor, image):
    cloud.set_quota(instances=1)
    create(conn, cloud, flavor, image, name="first")
    with pytest.raises(exceptions.ForbiddenException) as raised:
        create(conn, cloud, flavor, image, name="second")
    assert raised.value.status_code == 403
    assert ("Quota exceeded for instances: Requested 1, but already used 1 of 1 instances"
            in str(raised.value))
    cloud.set_quota(instances=10, cores=3)
    with pytest.raises(exceptions.ForbiddenException,
                       match="Quota exceeded for cores: Requested 2, but already used 2 of 3"):
        create(conn, cloud, flavor, image, name="third")
    assert [s.name for s in cloud.servers.values()] == ["first"]


def test_server_going_to_error_carries_its_fault(cloud, conn, flavor, image):
    cloud.behave("gpu-*", outcome="error", fault="No valid host was found. There are not "
                 "enough hosts available.")
    server = create(conn, cloud, flavor, image, name="gpu-node-1")
    with pytest.raises(exceptions.ResourceFailure, match="transitioned to failure state ERROR"):
        conn.compute.wait_for_server(server, interval=0.02, wait=5)
    failed = conn.compute.get_server(server.id)  # the fault is only on the server itself
    assert failed.status == "ERROR"
    assert failed.fault["message"].startswith("No valid host was found.")
    assert failed.fault["code"] == 500
    ok = create(conn, cloud, flavor, image, name="cpu-node-1")  # other names: unaffected
    assert conn.compute.wait_for_server(ok, interval=0.02, wait=5).status == "ACTIVE"


def test_server_stuck_in_build_times_out(cloud, conn, flavor, image):
    cloud.plan_next(outcome="stuck")
    server = create(conn, cloud, flavor, image)
    with pytest.raises(exceptions.ResourceTimeout):
        conn.compute.wait_for_server(server, interval=0.02, wait=0.3)
    assert conn.compute.get_server(server.id).status == "BUILD"
    cloud.set_server_status(server.id, "ACTIVE")
    assert conn.compute.wait_for_server(server, interval=0.02, wait=1).status == "ACTIVE"


def test_build_by_time_and_a_delete_that_fails_once(cloud, conn, flavor, image):
    cloud.plan_next(build_polls=None, build_seconds=0.2, delete_failures=1)
    server = create(conn, cloud, flavor, image)
    assert conn.compute.wait_for_server(server, interval=0.05, wait=5).status == "ACTIVE"
    built = cloud.servers[server.id]
    assert built.launched_at is not None and built.launched_at - built.created_at >= 0.2
    conn.compute.delete_server(server)  # accepted, but the host did not tear it down
    left = conn.compute.get_server(server.id)
    assert left.status == "ERROR" and "Failed to terminate" in left.fault["message"]
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.02, wait=5)
    assert list(conn.compute.servers()) == []


def test_bad_requests_answer_novas_errors(cloud, conn, flavor, image):
    cases = [
        (dict(image_id="no-such-image"), "Image no-such-image could not be found."),
        (dict(flavor_id="no-such-flavor"), "Flavor no-such-flavor could not be found."),
        (dict(networks=[{"uuid": "no-such-net"}]), "Network no-such-net could not be found."),
        (dict(key_name="missing"), "Invalid key_name provided."),
    ]
    for override, message in cases:
        attrs = dict(name="n", image_id=image.id, flavor_id=flavor.id,
                     networks=[{"uuid": cloud.private.id}], **{})
        attrs.update(override)
        with pytest.raises(exceptions.BadRequestException, match=message):
            conn.compute.create_server(**attrs)
    assert cloud.servers == {}
    with pytest.raises(exceptions.NotFoundException, match="could not be found"):
        conn.compute.get_server("no-such-server")


def test_microversions_out_of_range_and_old_shapes(cloud, conn, flavor, image):
    server = create(conn, cloud, flavor, image)
    url = f"{cloud.url}/compute/v2.1/servers/{server.id}"
    headers = {"X-Auth-Token": conn.auth_token}
    old = requests.get(url, headers=headers, timeout=5)
    assert old.headers["OpenStack-API-Version"] == "compute 2.1"
    assert old.json()["server"]["flavor"]["id"] == flavor.id and "tags" not in old.json()
    too_new = requests.get(url, timeout=5,
                           headers={**headers, "OpenStack-API-Version": "compute 2.200"})
    assert too_new.status_code == 406
    assert "maximum is 2.96" in too_new.json()["computeFault"]["message"]
    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Keystone uri=")
    unknown = requests.get(f"{cloud.url}/compute/v2.1/os-nothing", headers=headers, timeout=5)
    assert unknown.status_code == 404 and "itemNotFound" in unknown.json()


def test_keystone_failing_is_raised_and_the_next_connection_works(cloud, connect, flavor):
    cloud.fail("POST", r"/auth/tokens$", times=1, status=503)
    with pytest.raises(ksa_exceptions.ServiceUnavailable):
        list(connect().compute.flavors())
    assert [f.name for f in connect().compute.flavors()] == ["m1.small"]


def test_unknown_paths_need_a_token_first(cloud, conn):
    url = f"{cloud.url}/network/v2.0/routers"
    assert requests.get(url, timeout=5).status_code == 401  # the middleware asks first
    known = requests.get(url, headers={"X-Auth-Token": conn.auth_token}, timeout=5)
    assert known.status_code == 404 and "NeutronError" in known.json()


def test_a_slow_delete_is_seen_deleting_before_it_is_gone(cloud, conn, flavor, image):
    cloud.plan_next(build_polls=1, delete_polls=2)
    server = conn.compute.wait_for_server(create(conn, cloud, flavor, image),
                                          interval=0.02, wait=5)
    conn.compute.delete_server(server)
    seen = conn.compute.get_server(server.id)
    assert (seen.status, seen.task_state) == ("ACTIVE", "deleting")
    assert conn.compute.get_limits().absolute.instances_used == 1  # still counted
    conn.compute.wait_for_delete(server, interval=0.02, wait=5)
    assert conn.compute.find_server(server.id) is None


def test_malformed_requests_are_refused_in_each_services_shape(cloud, conn, flavor):
    headers = {"X-Auth-Token": conn.auth_token, "Content-Type": "application/json"}
    servers = f"{cloud.url}/compute/v2.1/servers"
    broken = requests.post(servers, data=b"{not json", headers=headers, timeout=5)
    assert broken.status_code == 400 and broken.json()["badRequest"]["code"] == 400
    keyless = requests.post(servers, json={"instance": {}}, headers=headers, timeout=5)
    assert keyless.status_code == 400 and "'server' is a required property" in \
        keyless.json()["badRequest"]["message"]
    fip = requests.post(f"{cloud.url}/network/v2.0/floatingips", headers=headers, timeout=5,
                        json={"floatingip": {"floating_network_id": cloud.private.id}})
    assert fip.status_code == 400 and "not a valid external network" in \
        fip.json()["NeutronError"]["message"]
    wrong_method = requests.put(f"{cloud.url}/compute/v2.1/limits", headers=headers, timeout=5)
    assert wrong_method.status_code == 405
    auth = requests.post(cloud.auth_url + "/auth/tokens", json={"auth": {}}, timeout=5)
    assert auth.status_code == 400 and auth.json()["error"]["title"] == "Bad Request"
    assert cloud.servers == {} and cloud.floating_ips == {}
