"""A fake OpenStack cloud on 127.0.0.1 for the unmodified openstacksdk: Keystone v3,
Nova v2.1 (microversions up to 2.96), Glance v2 and Neutron v2.0, with injected
failures. See :class:`tests.fakes.openstack.server.FakeOpenStack`::

    cloud = FakeOpenStack()      # project demo, user zuul/secret, networks private, public
    gpu = cloud.add_flavor("gpu", 8, 32768, 80, extra_specs={"resources:VGPU": "1"})
    image = cloud.add_image("ubuntu-noble")
    cloud.add_keypair("zuul", "ssh-ed25519 AAAA...")          # for servers' key_name
    conn = openstack.connection.Connection(
        auth_url=cloud.auth_url, username="zuul", password="secret", project_name="demo",
        user_domain_name="Default", project_domain_name="Default", region_name="RegionOne")
    cloud.behave("fail-*", outcome="error", fault="No valid host was found.")
    cloud.plan_next(outcome="stuck")                          # the next server stays BUILD
    cloud.fail("POST", r"/compute/v2\\.1/servers$", times=1)  # a 500, once
    cloud.delay("GET", r"/servers/detail$", 2.0)              # past a client's api_timeout
    cloud.set_quota(instances=2)                              # then 403 "Quota exceeded..."
    cloud.expire_tokens()                                     # the next call gets a 401
    ... cloud.calls (method, path, query, body, status, microversion), cloud.servers ...
    cloud.close(); assert cloud.bugs == []

What openstacksdk (4.x, keystoneauth1 5.x) does against it, for the provider's author:

- Discovery: ``GET /identity/v3`` (or ``GET /identity`` answering 300 when the auth URL
  has no version), then ``POST /v3/auth/tokens``; ``GET /compute/v2.1`` once per
  connection for Nova's microversion range; ``GET /image`` (Glance's 300 version list)
  before the first image call; nothing for Neutron (it goes straight to ``/v2.0``).
- Microversions differ per resource: servers ask for min(2.100, the cloud's maximum),
  flavors 2.61 (extra specs come inside the flavor, no extra call needed), key pairs 2.10,
  and ``get_limits`` sends none at all (2.1 shape, with the fields 2.57 removed).
- ``find_*`` by name first GETs ``/<resource>/<name>`` (a 404), then lists; flavors are
  listed with ``is_public=None``. ``servers(limit=n)`` follows ``servers_links`` and asks
  once more after the short last page.
- Errors: a 500 or 503 is not retried (``HttpException`` with ``status_code``; the
  next call succeeds); a wrong password raises keystoneauth1's ``Unauthorized``, not an
  SDK exception; a timeout (``api_timeout``) raises keystoneauth1's ``ConnectTimeout``
  even when the connection was made and the answer was late; over quota is
  ``ForbiddenException`` carrying Nova's message; an expired token is renewed on the 401
  and the call repeated; tokens living less than 120 s are renewed before nearly every
  call.
- ``wait_for_server`` raises ``ResourceFailure`` ("transitioned to failure state ERROR")
  without the fault: GET the server and read ``fault["message"]``. The cloud layer's
  ``create_server(wait=True)`` polls every 5 s; it sends ``volume_size`` and
  ``boot_index`` as strings and ``imageRef: ""`` when booting from a volume.

Not modelled: Cinder (volumes exist only as Nova's ``volumes_attached``), routers,
security groups in Neutron, Neutron's ``fixed_ips`` filter, admin-only fields, Nova's
server actions (reboot, rebuild...) and quota classes.
"""

from tests.fakes.openstack.server import FakeOpenStack
from tests.fakes.openstack.state import Behaviour

__all__ = ["Behaviour", "FakeOpenStack"]
