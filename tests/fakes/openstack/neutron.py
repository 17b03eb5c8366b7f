"""Neutron (networking API v2.0) of the fake cloud: version discovery, extensions,
networks, subnets and ports to read, and floating IPs to create, associate, list and
delete. Not served: routers, security groups (a server's groups are only recorded by
Nova), creating networks, subnets or ports."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from tests.fakes.openstack.api import ApiError, Reply, Request, Routes, body_dict
from tests.fakes.openstack.state import FloatingIP, Network, Port, Subnet, iso, new_id

if TYPE_CHECKING:
    from tests.fakes.openstack.server import FakeOpenStack

route = Routes()
ROUTER_ID = "f0000000-0000-4000-8000-00000000a001"
EXTENSIONS = (("external-net", "Neutron external network"), ("router", "Neutron L3 Router"),
              ("standard-attr-tag", "Tag support for resources with standard attribute"),
              ("fip-port-details", "Floating IP Port Details Extension"),
              ("quotas", "Quota management support"))


def error_body(err: ApiError) -> dict[str, Any]:
    """``{"NeutronError": {"type": ..., "message": ..., "detail": ""}}``."""
    kinds = {400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "HTTPForbidden",
             404: "HTTPNotFound", 409: "HTTPConflict", 500: "HTTPInternalServerError"}
    return {"NeutronError": {"type": err.kind or kinds.get(err.status, "NeutronException"),
                             "message": err.message, "detail": ""}}


@route("GET", "", authenticated=False)
def versions(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"href": f"{fake.url}/network/v2.0/", "rel": "self"}]}]})


@route("GET", "/v2.0", authenticated=False)
def resources(fake: FakeOpenStack, req: Request) -> Reply:
    names = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"),
             ("floatingip", "floatingips"))
    return Reply(200, {"resources": [
        {"name": n, "collection": c,
         "links": [{"href": f"{fake.url}/network/v2.0/{c}", "rel": "self"}]}
        for n, c in names]})


@route("GET", "/v2.0/extensions")
def list_extensions(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"extensions": [
        {"alias": alias, "name": name, "description": name, "links": [],
         "updated": "2013-01-20T00:00:00-00:00"} for alias, name in EXTENSIONS]})


_CONTROL = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}


def _filtered(req: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutron's list filters: ``attr=value`` (repeated: any of them)."""
    for key, values in req.query.items():
        if key in _CONTROL:
            continue
        items = [i for i in items if key in i and _text(i[key]) in values]
    fields = req.query.get("fields")
    if fields:
        items = [{k: v for k, v in i.items() if k in fields} for i in items]
    return items


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _common(project_id: str, created: float = 0.0) -> dict[str, Any]:
    return {"tenant_id": project_id, "project_id": project_id, "tags": [],
            "created_at": iso(created), "updated_at": iso(created), "revision_number": 1,
            "description": ""}


def network_json(n: Network) -> dict[str, Any]:
    return {"id": n.id, "name": n.name, "status": "ACTIVE", "admin_state_up": True,
            "subnets": [s.id for s in n.subnets], "shared": n.shared,
            "router:external": n.external, "mtu": n.mtu, "availability_zones": ["nova"],
            "port_security_enabled": True, "is_default": False,
            "ipv4_address_scope": None, "ipv6_address_scope": None, **_common(n.project_id)}


def subnet_json(n: Network, s: Subnet) -> dict[str, Any]:
    net = ipaddress.ip_network(s.cidr)
    return {"id": s.id, "name": s.name, "network_id": n.id, "cidr": s.cidr,
            "gateway_ip": s.gateway_ip, "ip_version": s.ip_version, "enable_dhcp": True,
            "allocation_pools": [{"start": str(net[2]), "end": str(net[-2])}],
            "dns_nameservers": [], "host_routes": [], "ipv6_ra_mode": None,
            "ipv6_address_mode": None, "subnetpool_id": None, **_common(n.project_id)}


def port_json(p: Port) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "network_id": p.network_id,
            "mac_address": p.mac_address, "fixed_ips": [dict(f) for f in p.fixed_ips],
            "device_id": p.device_id, "device_owner": p.device_owner, "status": p.status,
            "admin_state_up": True, "security_groups": [], "allowed_address_pairs": [],
            "binding:vnic_type": "normal", "port_security_enabled": True,
            **_common(p.project_id)}


def floatingip_json(fake: FakeOpenStack, f: FloatingIP) -> dict[str, Any]:
    port = fake.ports.get(f.port_id) if f.port_id else None
    details = None
    if port is not None:
        details = {"name": port.name, "network_id": port.network_id,
                   "mac_address": port.mac_address, "admin_state_up": True,
                   "status": port.status, "device_id": port.device_id,
                   "device_owner": port.device_owner}
    return {"id": f.id, "floating_ip_address": f.address, "floating_network_id": f.network_id,
            "router_id": ROUTER_ID if f.port_id else None, "port_id": f.port_id,
            "fixed_ip_address": f.fixed_ip_address, "port_details": details,
            "status": "ACTIVE" if f.port_id else "DOWN", "dns_domain": "", "dns_name": "",
            "port_forwardings": [], "qos_policy_id": None,
            **{**_common(f.project_id, f.created_at), "description": f.description}}


def _project(req: Request) -> str:
    assert req.token is not None and req.token.project is not None
    return req.token.project.id


def _visible(fake: FakeOpenStack, req: Request) -> list[Network]:
    project = _project(req)
    return [n for n in fake.networks.values()
            if n.shared or n.external or n.project_id == project]


@route("GET", "/v2.0/networks")
def list_networks(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"networks": _filtered(req, [network_json(n)
                                                  for n in _visible(fake, req)])})


@route("GET", "/v2.0/networks/{network_id}")
def show_network(fake: FakeOpenStack, req: Request) -> Reply:
    found = [n for n in _visible(fake, req) if n.id == req.params["network_id"]]
    if not found:
        raise ApiError(404, f"Network {req.params['network_id']} could not be found.",
                       "NetworkNotFound")
    return Reply(200, {"network": network_json(found[0])})


@route("GET", "/v2.0/subnets")
def list_subnets(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"subnets": _filtered(req, [subnet_json(n, s) for n in _visible(fake, req)
                                                  for s in n.subnets])})


@route("GET", "/v2.0/subnets/{subnet_id}")
def show_subnet(fake: FakeOpenStack, req: Request) -> Reply:
    for n in _visible(fake, req):
        for s in n.subnets:
            if s.id == req.params["subnet_id"]:
                return Reply(200, {"subnet": subnet_json(n, s)})
    raise ApiError(404, f"Subnet {req.params['subnet_id']} could not be found.",
                   "SubnetNotFound")


@route("GET", "/v2.0/ports")
def list_ports(fake: FakeOpenStack, req: Request) -> Reply:
    project = _project(req)
    return Reply(200, {"ports": _filtered(req, [port_json(p) for p in fake.ports.values()
                                                if p.project_id == project])})


def _port(fake: FakeOpenStack, req: Request, port_id: str) -> Port:
    port = fake.ports.get(port_id)
    if port is None or port.project_id != _project(req):
        raise ApiError(404, f"Port {port_id} could not be found.", "PortNotFound")
    return port


@route("GET", "/v2.0/ports/{port_id}")
def show_port(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"port": port_json(_port(fake, req, req.params["port_id"]))})


@route("GET", "/v2.0/floatingips")
def list_floatingips(fake: FakeOpenStack, req: Request) -> Reply:
    project = _project(req)
    return Reply(200, {"floatingips": _filtered(req, [
        floatingip_json(fake, f) for f in fake.floating_ips.values()
        if f.project_id == project])})


def _floating(fake: FakeOpenStack, req: Request) -> FloatingIP:
    f = fake.floating_ips.get(req.params["floatingip_id"])
    if f is None or f.project_id != _project(req):
        raise ApiError(404, f"Floating IP {req.params['floatingip_id']} could not be found",
                       "FloatingIPNotFound")
    return f


def _associate(fake: FakeOpenStack, req: Request, f: FloatingIP, spec: dict[str, Any]) -> None:
    port_id = spec.get("port_id")
    if not port_id:
        f.port_id = f.fixed_ip_address = None
        return
    port = _port(fake, req, port_id)
    for other in fake.floating_ips.values():
        if other.port_id == port.id and other is not f:
            raise ApiError(409, f"Cannot associate floating IP {f.address} ({f.id}) with port "
                           f"{port.id} using fixed IP {port.fixed_ips[0]['ip_address']}, as "
                           f"that fixed IP already has a floating IP on external network "
                           f"{other.network_id}.", "FloatingIPPortAlreadyAssociated")
    wanted = spec.get("fixed_ip_address") or port.fixed_ips[0]["ip_address"]
    if wanted not in [i["ip_address"] for i in port.fixed_ips]:
        raise ApiError(400, f"Port {port.id} does not have fixed ip {wanted}.")
    f.port_id, f.fixed_ip_address = port.id, wanted


@route("POST", "/v2.0/floatingips")
def create_floatingip(fake: FakeOpenStack, req: Request) -> Reply:
    spec = body_dict(req, "floatingip")
    project = _project(req)
    net = fake.networks.get(spec.get("floating_network_id") or "")
    if net is None:
        raise ApiError(404, f"Network {spec.get('floating_network_id')} could not be found.",
                       "NetworkNotFound")
    if not net.external:
        raise ApiError(400, f"Bad floatingip request: Network {net.id} is not a valid external "
                       "network.")
    used = sum(1 for f in fake.floating_ips.values() if f.project_id == project)
    if used >= fake.quota_for(project).floating_ips:
        raise ApiError(409, "Quota exceeded for resources: ['floatingip'].", "OverQuota")
    address = fake.allocate_ip(net)
    if address is None:
        raise ApiError(409, f"No more IP addresses available on network {net.id}.",
                       "IpAddressGenerationFailure")
    f = FloatingIP(new_id(), address, net.id, project,
                   description=str(spec.get("description") or ""), created_at=fake.clock.now())
    _associate(fake, req, f, spec)
    fake.floating_ips[f.id] = f
    return Reply(201, {"floatingip": floatingip_json(fake, f)})


@route("GET", "/v2.0/floatingips/{floatingip_id}")
def show_floatingip(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"floatingip": floatingip_json(fake, _floating(fake, req))})


@route("PUT", "/v2.0/floatingips/{floatingip_id}")
def update_floatingip(fake: FakeOpenStack, req: Request) -> Reply:
    f = _floating(fake, req)
    spec = body_dict(req, "floatingip")
    if "port_id" in spec:
        _associate(fake, req, f, spec)
    if "description" in spec:
        f.description = str(spec["description"] or "")
    return Reply(200, {"floatingip": floatingip_json(fake, f)})


@route("DELETE", "/v2.0/floatingips/{floatingip_id}")
def delete_floatingip(fake: FakeOpenStack, req: Request) -> Reply:
    f = _floating(fake, req)
    del fake.floating_ips[f.id]
    return Reply(204)
