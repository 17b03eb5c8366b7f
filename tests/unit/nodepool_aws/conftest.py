from tests.fakes.moto_server import fault_proxy, moto_server  # noqa: F401
