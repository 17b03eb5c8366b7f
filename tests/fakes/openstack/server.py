"""The fake OpenStack cloud's HTTP server, its door (recording, injected faults, tokens,
microversions) and the API tests drive it with.

One server on 127.0.0.1 answers every service under a path prefix, as the catalog says:
``/identity`` (Keystone v3), ``/compute`` (Nova v2.1), ``/image`` (Glance v2) and
``/network`` (Neutron v2.0). Each request, in order: recorded in ``calls``; an injected
fault (delay and/or error status) for its method and path; routed (404 or 405 in the
service's shape when nothing serves it); its token checked (401 as keystonemiddleware
answers: an unknown or expired token); Nova's microversion checked; then answered.
A handler that raises something other than an API error is the fake's own bug: it is
answered 500 and kept in ``bugs``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import ipaddress
import json
import re
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.openstack import glance, keystone, neutron, nova
from tests.fakes.openstack.api import ApiError, Reply, Request, Routes
from tests.fakes.openstack.state import (
    AppCredential,
    Behaviour,
    Call,
    Domain,
    Fault,
    Flavor,
    FloatingIP,
    Image,
    Keypair,
    Network,
    Port,
    Project,
    Quota,
    Server,
    Subnet,
    Token,
    User,
    fingerprint,
    new_id,
)
from zuulish.clock import Clock, SystemClock

SERVICES: dict[str, tuple[str, Routes, Any]] = {
    "/identity": ("identity", keystone.route, keystone.error_body),
    "/compute": ("compute", nova.route, nova.error_body),
    "/image": ("image", glance.route, glance.error_body),
    "/network": ("network", neutron.route, neutron.error_body),
}


class FakeOpenStack:
    """A small OpenStack cloud on 127.0.0.1.

    It starts with domain ``Default``, project ``demo``, user ``zuul`` (password
    ``secret``), a tenant network ``private`` (10.0.0.0/24) and an external network
    ``public`` (172.24.4.0/24); flavors and images are for the test to add.
    """

    def __init__(self, clock: Clock | None = None, *, region: str = "RegionOne",
                 nova_max_microversion: str = "2.96", token_lifetime: float = 3600.0):
        self.clock: Clock = clock or SystemClock()
        self.region = region
        self.nova_max_microversion = nova_max_microversion
        self.token_lifetime = token_lifetime
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.bugs: list[str] = []  # tracebacks of the fake's own failures
        self.faults: list[Fault] = []
        self.domains: dict[str, Domain] = {}
        self.projects: dict[str, Project] = {}
        self.users: dict[str, User] = {}
        self.app_credentials: dict[str, AppCredential] = {}
        self.tokens: dict[str, Token] = {}
        self.flavors: dict[str, Flavor] = {}
        self.images: dict[str, Image] = {}
        self.networks: dict[str, Network] = {}
        self.ports: dict[str, Port] = {}
        self.floating_ips: dict[str, FloatingIP] = {}
        self.servers: dict[str, Server] = {}
        self.deleted_servers: list[Server] = []
        self.keypairs: dict[str, dict[str, Keypair]] = {}  # user id -> name -> key pair
        self.quotas: dict[str, Quota] = {}
        self.default_quota = Quota()
        self.default_behaviour = Behaviour()
        self._rules: list[tuple[str, Behaviour]] = []
        self._planned: list[Behaviour] = []
        self._nova_ports: set[str] = set()
        self._number = 0
        self.domain = self.add_domain("Default", "default")
        self.project = self.add_project("demo")
        self.user = self.add_user("zuul", "secret")
        self.private = self.add_network("private", "10.0.0.0/24")
        self.public = self.add_network("public", "172.24.4.0/24", external=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.auth_url = f"{self.url}/identity/v3"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="fake-openstack").start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_number(self) -> int:
        with self.lock:
            self._number += 1
            return self._number

    # -- building the cloud --------------------------------------------------------------

    def add_domain(self, name: str, ident: str | None = None) -> Domain:
        domain = Domain(ident or new_id().replace("-", ""), name)
        self.domains[domain.id] = domain
        return domain

    def add_project(self, name: str, domain: Domain | None = None) -> Project:
        project = Project(new_id().replace("-", ""), name, domain or self.domain)
        self.projects[project.id] = project
        return project

    def add_user(self, name: str, password: str, domain: Domain | None = None) -> User:
        user = User(new_id().replace("-", ""), name, password, domain or self.domain)
        self.users[user.id] = user
        return user

    def add_app_credential(self, name: str, secret: str, user: User | None = None,
                           project: Project | None = None) -> AppCredential:
        cred = AppCredential(new_id().replace("-", ""), name, secret, user or self.user,
                             project or self.project)
        self.app_credentials[cred.id] = cred
        return cred

    def add_flavor(self, name: str, vcpus: int = 1, ram: int = 1024, disk: int = 10, *,
                   extra_specs: dict[str, str] | None = None, ident: str | None = None,
                   **fields: Any) -> Flavor:
        """A flavor; ``extra_specs`` such as ``{"resources:VGPU": "1"}``."""
        flavor = Flavor(ident or new_id(), name, vcpus, ram, disk,
                        extra_specs=dict(extra_specs or {}), **fields)
        self.flavors[flavor.id] = flavor
        return flavor

    def add_image(self, name: str, *, properties: dict[str, Any] | None = None,
                  **fields: Any) -> Image:
        fields.setdefault("owner", self.project.id)
        image = Image(new_id(), name, properties=dict(properties or {}),
                      created_at=self.clock.now() + len(self.images) * 1e-3, **fields)
        self.images[image.id] = image
        return image

    def add_network(self, name: str, cidr: str, *, external: bool = False,
                    shared: bool = False, project: Project | None = None) -> Network:
        net = Network(new_id(), name, (project or self.project).id, external, shared)
        gateway = str(ipaddress.ip_network(cidr)[1])
        net.subnets.append(Subnet(new_id(), f"{name}-subnet", net.id, cidr, gateway))
        self.networks[net.id] = net
        return net

    def add_keypair(self, name: str, public_key: str, user: User | None = None) -> Keypair:
        """A key pair of ``user`` (default: ``zuul``), as ``POST /os-keypairs`` makes it."""
        owner = user or self.user
        kp = Keypair(name, public_key.strip(), fingerprint(public_key), owner.id,
                     created_at=self.clock.now(), id=self.next_number())
        self.keypairs.setdefault(owner.id, {})[name] = kp
        return kp

    def set_quota(self, project: Project | None = None, **limits: int) -> Quota:
        """Nova's quota for ``project`` (default: ``demo``): instances, cores, ram..."""
        pid = (project or self.project).id
        quota = dataclasses.replace(self.quota_for(pid), **limits)
        self.quotas[pid] = quota
        return quota

    # -- what the cloud does ---------------------------------------------------------------

    def behave(self, name_glob: str = "*", **fields: Any) -> Behaviour:
        """Servers whose name matches ``name_glob`` behave so (see :class:`Behaviour`);
        the first matching rule wins, the default (``default_behaviour``) otherwise.
        Fields not given are the default's."""
        behaviour = dataclasses.replace(self.default_behaviour, **fields)
        self._rules.append((name_glob, behaviour))
        return behaviour

    def plan_next(self, count: int = 1, **fields: Any) -> None:
        """The next ``count`` servers created behave so, whatever their names (fields not
        given are the default's)."""
        with self.lock:
            self._planned += [dataclasses.replace(self.default_behaviour, **fields)
                              for _ in range(count)]

    def behaviour_for(self, name: str) -> Behaviour:
        with self.lock:
            if self._planned:
                return self._planned.pop(0)
        for glob, behaviour in self._rules:
            if fnmatch.fnmatchcase(name, glob):
                return dataclasses.replace(behaviour)
        return dataclasses.replace(self.default_behaviour)

    def set_server_status(self, server_id: str, status: str, fault: str | None = None) -> None:
        """Move a server now: "ACTIVE", "ERROR" (with ``fault``), "SHUTOFF"..."""
        with self.lock:
            s = self.servers[server_id]
            if status == "ERROR":
                s.set_error(fault or s.behaviour.fault, self.clock.now())
                return
            s.status, s.task_state, s.fault = status, None, None
            s.vm_state = {"ACTIVE": "active", "SHUTOFF": "stopped"}.get(status, status.lower())
            s.power_state = 1 if status == "ACTIVE" else 4
            s.updated_at = self.clock.now()

    def fail(self, method: str, path: str, *, times: int | None = 1, status: int = 500,
             delay: float = 0.0) -> Fault:
        """The next ``times`` calls (None: all) of ``method`` ("*": any) whose path matches
        the regular expression ``path`` answer ``status`` (after ``delay`` seconds)."""
        fault = Fault(method.upper(), path, status, delay, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def delay(self, method: str, path: str, seconds: float, *, times: int | None = 1) -> Fault:
        """The next ``times`` matching calls are answered normally, ``seconds`` late."""
        return self.fail(method, path, times=times, status=0, delay=seconds)

    def expire_tokens(self) -> int:
        """Every token issued so far is expired now (clients must authenticate again)."""
        with self.lock:
            now = self.clock.now()
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, now - 1)
            return len(self.tokens)

    def calls_to(self, method: str, path_regex: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls
                    if c.method == method and re.search(path_regex, c.path)]

    # -- helpers the services share --------------------------------------------------------

    def quota_for(self, project_id: str) -> Quota:
        return self.quotas.get(project_id, self.default_quota)

    def usage(self, project_id: str) -> dict[str, int]:
        mine = [s for s in self.servers.values() if s.project_id == project_id]
        return {"instances": len(mine), "cores": sum(s.flavor.vcpus for s in mine),
                "ram": sum(s.flavor.ram for s in mine)}

    def touch(self, server: Server, read: bool) -> None:
        """Let time (and a client's look, when ``read``) move a server on."""
        with self.lock:
            if server.deleting:
                if read:
                    server.delete_polls_left -= 1
                if server.delete_polls_left <= 0:
                    self.remove_server(server)
                return
            server.advance(self.clock.now(), read)

    def remove_server(self, server: Server) -> None:
        with self.lock:
            self.servers.pop(server.id, None)
            for port in server.ports:
                for fip in self.floating_ips.values():
                    if fip.port_id == port.id:
                        fip.port_id = fip.fixed_ip_address = None
                if port.id in self._nova_ports:
                    self.ports.pop(port.id, None)
                    self._nova_ports.discard(port.id)
                else:
                    port.device_id = port.device_owner = ""
                    port.status = "DOWN"
            self.deleted_servers.append(server)

    def allocate_ip(self, network: Network) -> str | None:
        with self.lock:
            subnet = network.subnets[0]
            hosts = ipaddress.ip_network(subnet.cidr)
            if subnet.next_host >= hosts.num_addresses - 1:
                return None
            address = str(hosts[subnet.next_host])
            subnet.next_host += 1
            return address

    def bind_port(self, server: Server, spec: dict[str, str]) -> Port:
        """The port a server gets on a network (``{"uuid": ...}``) or is given
        (``{"port": ...}``)."""
        with self.lock:
            if "port" in spec:
                port = self.ports[spec["port"]]
            else:
                net = self.networks[spec["uuid"]]
                address = self.allocate_ip(net)
                if address is None:
                    raise ApiError(400, f"No more IP addresses available on network {net.id}.")
                n = self.next_number()
                port = Port(new_id(), net.id, server.project_id,
                            f"fa:16:3e:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}",
                            [{"subnet_id": net.subnets[0].id, "ip_address": address}])
                self.ports[port.id] = port
                self._nova_ports.add(port.id)
            port.device_id, port.device_owner, port.status = server.id, "compute:nova", "ACTIVE"
            return port

    def addresses(self, server: Server) -> dict[str, list[dict[str, Any]]]:
        """Nova's ``addresses``: per network name, fixed then floating addresses."""
        found: dict[str, list[dict[str, Any]]] = {}
        for port in server.ports:
            net = self.networks[port.network_id]
            entries = found.setdefault(net.name, [])
            for ip in port.fixed_ips:
                entries.append({"version": ipaddress.ip_address(ip["ip_address"]).version,
                                "addr": ip["ip_address"], "OS-EXT-IPS:type": "fixed",
                                "OS-EXT-IPS-MAC:mac_addr": port.mac_address})
            for fip in self.floating_ips.values():
                if fip.port_id == port.id:
                    entries.append({"version": 4, "addr": fip.address,
                                    "OS-EXT-IPS:type": "floating",
                                    "OS-EXT-IPS-MAC:mac_addr": port.mac_address})
        return found

    # -- serving -----------------------------------------------------------------------------

    def serve(self, method: str, raw_path: str, headers: dict[str, str],
              raw_body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            body = None
        path = parts.path.rstrip("/") or "/"
        prefix = next((p for p in SERVICES if path == p or path.startswith(p + "/")), None)
        call = Call(method, parts.path, query, body, SERVICES[prefix][0] if prefix else "")
        with self.lock:
            self.calls.append(call)
        if prefix is None:
            call.status = 404
            return 404, {"error": {"code": 404, "title": "Not Found",
                                   "message": f"nothing is served at {parts.path}"}}, {}
        _, routes, error_body = SERVICES[prefix]
        status, answer, extra = self._answer(call, routes, error_body, prefix, path, query,
                                             body, headers, raw_body)
        call.status = status
        return status, answer, extra

    def _answer(self, call: Call, routes: Routes, error_body: Any, prefix: str, path: str,
                query: dict[str, list[str]], body: Any, headers: dict[str, str],
                raw_body: bytes) -> tuple[int, Any, dict[str, str]]:
        extra: dict[str, str] = {}
        try:
            self._faults(call.method, call.path)
            route, params, known = routes.match(call.method, path[len(prefix):])
            if route is None and call.service != "identity":
                self._token(headers.get("x-auth-token", ""))  # the middleware asks first
            if route is None:
                raise (ApiError(405, "The method is not allowed for the requested URL.")
                       if known else ApiError(404, "The resource could not be found."))
            if raw_body.strip() and body is None:
                raise ApiError(400, "Malformed request body")
            req = Request(call.method, path[len(prefix):], query, body, headers, params)
            if route.authenticated:
                req.token = self._token(headers.get("x-auth-token", ""))
            if call.service == "compute" and route.authenticated:
                req.microversion = nova.requested_microversion(self, headers)
                text = "{}.{}".format(*req.microversion)
                call.microversion = text
                extra = {"OpenStack-API-Version": f"compute {text}",
                         "X-OpenStack-Nova-API-Version": text,
                         "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}
            with self.lock:
                reply: Reply = route.handler(self, req)
        except _Unauthorized:
            return 401, keystone.error_body(ApiError(401, keystone.UNAUTHORIZED)), {
                "WWW-Authenticate": f'Keystone uri="{self.url}/identity"'}
        except ApiError as err:
            return err.status, error_body(err), extra
        except Exception:  # the fake's own bug: answered, and kept for the test to see
            with self.lock:
                self.bugs.append(traceback.format_exc())
            return 500, error_body(ApiError(500, nova.UNEXPECTED)), extra
        return reply.status, reply.body, {**extra, **reply.headers}

    def _faults(self, method: str, path: str) -> None:
        chosen: Fault | None = None
        with self.lock:
            for fault in self.faults:
                if fault.method in ("*", method) and re.search(fault.path, path):
                    chosen = fault
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    break
        if chosen is None:
            return
        if chosen.delay:
            self.clock_sleep(chosen.delay)
        if chosen.status:
            raise ApiError(chosen.status, nova.UNEXPECTED if chosen.status == 500 else
                           f"injected failure {chosen.status}")

    @staticmethod
    def clock_sleep(seconds: float) -> None:
        """Real time: the delay is for a client's socket timeout to see."""
        import time
        time.sleep(seconds)

    def _token(self, value: str) -> Token:
        with self.lock:
            token = self.tokens.get(value)
        if token is None or token.expires_at <= self.clock.now() or token.project is None:
            raise _Unauthorized()
        return token


class _Unauthorized(Exception):
    """No token, an unknown one or an expired one (keystonemiddleware's 401)."""


def _handler_for(fake: FakeOpenStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in separate writes: without this, Nagle's algorithm and
        # the client's delayed ACK hold every answer back ~40 ms on a kept-alive connection
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = fake.serve(self.command, self.path, headers, raw)
            if isinstance(body, str):
                data, kind = body.encode(), "text/plain; charset=UTF-8"
            else:
                data = b"" if body is None else json.dumps(body).encode()
                kind = "application/json"
            try:
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Openstack-Request-Id", f"req-{new_id()}")
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
