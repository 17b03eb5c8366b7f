"""Node pools: the launcher, the pool providers (local, static) and the cloud drivers
(openstack, aws, podman); see launcher.py."""
