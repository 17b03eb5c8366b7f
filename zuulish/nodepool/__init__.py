"""Node pools: the launcher and its providers (local, static, openstack)."""
