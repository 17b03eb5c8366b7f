"""A fake OpenStack cloud on 127.0.0.1 for the unmodified openstacksdk: Keystone v3,
Nova v2.1, Glance v2 and Neutron v2.0, with injected failures. See
:class:`tests.fakes.openstack.server.FakeOpenStack`::

    cloud = FakeOpenStack()
    flavor = cloud.add_flavor("gpu", 8, 32768, 80, extra_specs={"resources:VGPU": "1"})
    image = cloud.add_image("ubuntu-noble")
    conn = openstack.connection.Connection(
        auth_url=cloud.auth_url, username="zuul", password="secret", project_name="demo",
        user_domain_name="Default", project_domain_name="Default", region_name="RegionOne")
    cloud.behave("fail-*", outcome="error", fault="No valid host was found.")
    cloud.fail("POST", r"/compute/v2\\.1/servers$", times=1, status=500)
    ...
    cloud.close()
"""

from tests.fakes.openstack.server import FakeOpenStack
from tests.fakes.openstack.state import Behaviour

__all__ = ["Behaviour", "FakeOpenStack"]
