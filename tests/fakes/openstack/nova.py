"""Nova (compute API v2.1) of the fake cloud: version discovery with a microversion
range, servers, flavors with extra specs, limits and key pairs.

The microversion a call asks for (``OpenStack-API-Version: compute 2.x`` or
``X-OpenStack-Nova-API-Version``; none: 2.1) shapes the answers where Nova's do:
the server's embedded flavor (2.47), tags (2.26), flavor descriptions (2.55) and extra
specs (2.61), key pair types (2.2) and the limits dropped in 2.36 and 2.57.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.fakes.openstack.api import ApiError, Reply, Request, Routes, body_dict
from tests.fakes.openstack.state import Flavor, Keypair, Server, fingerprint, iso, new_id

if TYPE_CHECKING:
    from tests.fakes.openstack.server import FakeOpenStack

route = Routes()
MIN_VERSION = (2, 1)
UNEXPECTED = ("Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ "
              "and attach the Nova API log if possible.\n<class 'nova.exception.NovaException'>")
_KEYS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
         405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
         429: "overLimit", 501: "notImplemented", 503: "serviceUnavailable"}


def error_body(err: ApiError) -> dict[str, Any]:
    """Nova's fault shape: ``{"itemNotFound": {"code": 404, "message": ...}}``."""
    return {err.kind or _KEYS.get(err.status, "computeFault"):
            {"code": err.status, "message": err.message}}


def parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.strip().partition(".")
    return int(major), int(minor)


def requested_microversion(fake: FakeOpenStack, headers: dict[str, str]) -> tuple[int, int]:
    """The microversion the call asks for, or a 406 as Nova answers one out of range."""
    maximum = parse_version(fake.nova_max_microversion)
    text = None
    for part in headers.get("openstack-api-version", "").split(","):
        service, _, value = part.strip().partition(" ")
        if service.lower() == "compute" and value:
            text = value
    text = text or headers.get("x-openstack-nova-api-version")
    if not text:
        return MIN_VERSION
    if text.strip().lower() == "latest":
        return maximum
    try:
        wanted = parse_version(text)
    except ValueError:
        raise ApiError(400, f"API Version String {text} is of invalid format. Must be of "
                       "format MajorNum.MinorNum.") from None
    if not MIN_VERSION <= wanted <= maximum:
        raise ApiError(406, f"Version {text} is not supported by the API. Minimum is "
                       f"2.1 and maximum is {fake.nova_max_microversion}.")
    return wanted


def version_json(fake: FakeOpenStack, vid: str) -> dict[str, Any]:
    if vid == "v2.0":
        return {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
                "updated": "2011-01-21T11:33:21Z",
                "links": [{"rel": "self", "href": f"{fake.url}/compute/v2/"}]}
    return {"id": "v2.1", "status": "CURRENT", "version": fake.nova_max_microversion,
            "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{fake.url}/compute/v2.1/"},
                      {"rel": "describedby", "type": "text/html",
                       "href": "http://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


@route("GET", "", authenticated=False)
def versions(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"versions": [version_json(fake, "v2.0"), version_json(fake, "v2.1")]})


@route("GET", "/v2.1", authenticated=False)
def version(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"version": version_json(fake, "v2.1")})


def _mv(req: Request, major: int, minor: int) -> bool:
    return (req.microversion or MIN_VERSION) >= (major, minor)


def _links(fake: FakeOpenStack, kind: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{fake.url}/compute/v2.1/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{fake.url}/compute/{kind}/{ident}"}]


def _paged(fake: FakeOpenStack, req: Request, items: list[Any], key: str,
           ident: Any) -> tuple[list[Any], list[dict[str, str]]]:
    """``limit``/``marker`` paging, with a ``next`` link when the page is full."""
    marker = req.arg("marker")
    if marker is not None:
        ids = [ident(i) for i in items]
        if marker not in ids:
            raise ApiError(400, f"marker [{marker}] not found")
        items = items[ids.index(marker) + 1:]
    limit = req.arg("limit")
    if limit is None:
        return items, []
    try:
        count = int(limit)
    except ValueError:
        raise ApiError(400, f"Invalid input for query parameters limit. Value: {limit}.") \
            from None
    page = items[:count]
    if len(page) < count or not page:
        return page, []
    href = f"{fake.url}/compute/v2.1/{key}?limit={count}&marker={ident(page[-1])}"
    return page, [{"rel": "next", "href": href}]


# -- flavors -----------------------------------------------------------------------------


def flavor_json(fake: FakeOpenStack, req: Request, f: Flavor, detail: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": f.id, "name": f.name, "links": _links(fake, "flavors", f.id)}
    if _mv(req, 2, 55):
        body["description"] = f.description
    if not detail:
        return body
    body.update({"ram": f.ram, "disk": f.disk, "vcpus": f.vcpus,
                 "swap": f.swap if (f.swap or _mv(req, 2, 75)) else "",
                 "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
                 "OS-FLV-DISABLED:disabled": f.disabled,
                 "os-flavor-access:is_public": f.is_public})
    if not _mv(req, 2, 75):
        body["rxtx_factor"] = 1.0
    if _mv(req, 2, 61):
        body["extra_specs"] = dict(f.extra_specs)
    return body


def _flavor(fake: FakeOpenStack, req: Request, ident: str) -> Flavor:
    flavor = fake.flavors.get(ident)
    project = req.token.project.id if req.token and req.token.project else ""
    if flavor is None or not (flavor.is_public or project in flavor.projects):
        raise ApiError(404, f"Flavor {ident} could not be found.")
    return flavor


def _list_flavors(fake: FakeOpenStack, req: Request, detail: bool) -> Reply:
    # a project (not admin) sees public flavors and the private ones shared with it,
    # whatever ``is_public`` asks (the SDK sends ``is_public=None``)
    assert req.token is not None and req.token.project is not None
    project = req.token.project.id
    items = [f for f in sorted(fake.flavors.values(), key=lambda f: f.id)
             if f.is_public or project in f.projects]
    for name, attr in (("minRam", "ram"), ("minDisk", "disk")):
        if req.arg(name):
            items = [f for f in items if getattr(f, attr) >= int(req.arg(name) or 0)]
    page, links = _paged(fake, req, items, "flavors/detail" if detail else "flavors",
                         lambda f: f.id)
    body: dict[str, Any] = {"flavors": [flavor_json(fake, req, f, detail) for f in page]}
    if links:
        body["flavors_links"] = links
    return Reply(200, body)


@route("GET", "/v2.1/flavors")
def list_flavors(fake: FakeOpenStack, req: Request) -> Reply:
    return _list_flavors(fake, req, False)


@route("GET", "/v2.1/flavors/detail")
def list_flavors_detail(fake: FakeOpenStack, req: Request) -> Reply:
    return _list_flavors(fake, req, True)


@route("GET", "/v2.1/flavors/{flavor_id}")
def show_flavor(fake: FakeOpenStack, req: Request) -> Reply:
    flavor = _flavor(fake, req, req.params["flavor_id"])
    return Reply(200, {"flavor": flavor_json(fake, req, flavor, True)})


@route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs")
def list_extra_specs(fake: FakeOpenStack, req: Request) -> Reply:
    flavor = _flavor(fake, req, req.params["flavor_id"])
    return Reply(200, {"extra_specs": dict(flavor.extra_specs)})


@route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
def show_extra_spec(fake: FakeOpenStack, req: Request) -> Reply:
    flavor = _flavor(fake, req, req.params["flavor_id"])
    key = req.params["key"]
    if key not in flavor.extra_specs:
        raise ApiError(404, f"Flavor {flavor.id} has no extra specs with key {key}.")
    return Reply(200, {key: flavor.extra_specs[key]})


# -- limits ------------------------------------------------------------------------------


@route("GET", "/v2.1/limits")
def show_limits(fake: FakeOpenStack, req: Request) -> Reply:
    assert req.token is not None and req.token.project is not None
    q = fake.quota_for(req.token.project.id)
    used = fake.usage(req.token.project.id)
    absolute: dict[str, int] = {
        "maxTotalInstances": q.instances, "maxTotalCores": q.cores, "maxTotalRAMSize": q.ram,
        "maxServerMeta": q.metadata_items, "maxTotalKeypairs": q.key_pairs,
        "maxServerGroups": q.server_groups, "maxServerGroupMembers": q.server_group_members,
        "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"], "totalServerGroupsUsed": 0}
    if not _mv(req, 2, 57):
        absolute.update({"maxPersonality": 5, "maxPersonalitySize": 10240,
                         "maxImageMeta": q.metadata_items})
    if not _mv(req, 2, 36):
        absolute.update({"maxSecurityGroups": 10, "maxSecurityGroupRules": 20,
                         "maxTotalFloatingIps": q.floating_ips, "totalFloatingIpsUsed": 0,
                         "totalSecurityGroupsUsed": 1})
    return Reply(200, {"limits": {"rate": [], "absolute": absolute}})


# -- key pairs ---------------------------------------------------------------------------


def keypair_json(req: Request, k: Keypair, full: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"name": k.name, "public_key": k.public_key,
                            "fingerprint": k.fingerprint}
    if _mv(req, 2, 2):
        body["type"] = k.type
    if full:
        body.update({"user_id": k.user_id, "id": k.id, "created_at": iso(k.created_at),
                     "deleted": False, "deleted_at": None, "updated_at": None})
    return body


def _keypairs(fake: FakeOpenStack, req: Request) -> dict[str, Keypair]:
    assert req.token is not None
    return fake.keypairs.setdefault(req.token.user.id, {})


@route("GET", "/v2.1/os-keypairs")
def list_keypairs(fake: FakeOpenStack, req: Request) -> Reply:
    items = sorted(_keypairs(fake, req).values(), key=lambda k: k.name)
    page, links = _paged(fake, req, items, "os-keypairs", lambda k: k.name)
    body: dict[str, Any] = {"keypairs": [{"keypair": keypair_json(req, k)} for k in page]}
    if links:
        body["keypairs_links"] = links
    return Reply(200, body)


_KEY_NAME = re.compile(r"^[A-Za-z0-9 _\-@.]{1,255}$")


@route("POST", "/v2.1/os-keypairs")
def create_keypair(fake: FakeOpenStack, req: Request) -> Reply:
    assert req.token is not None
    spec = body_dict(req, "keypair")
    name = spec.get("name")
    if not isinstance(name, str) or not _KEY_NAME.match(name):
        raise ApiError(400, "Keypair data is invalid: Keypair name contains unsafe characters")
    owned = _keypairs(fake, req)
    if name in owned:
        raise ApiError(409, f"Key pair '{name}' already exists.")
    if len(owned) >= fake.quota_for(req.token.project.id if req.token.project else "").key_pairs:
        raise ApiError(403, "Quota exceeded, too many key pairs.")
    private = None
    public = spec.get("public_key")
    if not public:
        if _mv(req, 2, 92):
            raise ApiError(400, "Invalid input for field/attribute keypair. "
                           "'public_key' is a required property")
        private, public = _generate_key()
    elif not isinstance(public, str) or not public.startswith(("ssh-", "ecdsa-")):
        raise ApiError(400, "Keypair data is invalid: failed to generate fingerprint")
    kp = Keypair(name, public.strip(), fingerprint(public), req.token.user.id,
                 spec.get("type", "ssh") if _mv(req, 2, 2) else "ssh",
                 fake.clock.now(), fake.next_number())
    owned[name] = kp
    body = keypair_json(req, kp)
    body["user_id"] = kp.user_id
    if private:
        body["private_key"] = private
    return Reply(201 if _mv(req, 2, 2) else 200, {"keypair": body})


def _generate_key() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public + " Generated-by-Nova"


def _keypair(fake: FakeOpenStack, req: Request) -> Keypair:
    assert req.token is not None
    kp = _keypairs(fake, req).get(req.params["name"])
    if kp is None:
        raise ApiError(404, f"Keypair {req.params['name']} not found for user "
                       f"{req.token.user.id}")
    return kp


@route("GET", "/v2.1/os-keypairs/{name}")
def show_keypair(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"keypair": keypair_json(req, _keypair(fake, req), full=True)})


@route("DELETE", "/v2.1/os-keypairs/{name}")
def delete_keypair(fake: FakeOpenStack, req: Request) -> Reply:
    kp = _keypair(fake, req)
    del _keypairs(fake, req)[kp.name]
    return Reply(204 if _mv(req, 2, 2) else 202)


# -- servers -----------------------------------------------------------------------------


def server_json(fake: FakeOpenStack, req: Request, s: Server) -> dict[str, Any]:
    f = s.flavor
    flavor: dict[str, Any]
    if _mv(req, 2, 47):
        flavor = {"vcpus": f.vcpus, "ram": f.ram, "disk": f.disk, "ephemeral": f.ephemeral,
                  "swap": f.swap, "original_name": f.name, "extra_specs": dict(f.extra_specs)}
    else:
        flavor = {"id": f.id, "links": [{"rel": "bookmark",
                                         "href": f"{fake.url}/compute/flavors/{f.id}"}]}
    image: Any = ""
    if s.image_id:
        image = {"id": s.image_id, "links": [{"rel": "bookmark",
                                              "href": f"{fake.url}/compute/images/{s.image_id}"}]}
    body: dict[str, Any] = {
        "id": s.id, "name": s.name, "status": s.status, "tenant_id": s.project_id,
        "user_id": s.user_id, "metadata": dict(s.metadata),
        "hostId": "" if s.status == "BUILD" else "a" * 56,
        "image": image, "flavor": flavor,
        "created": iso(s.created_at), "updated": iso(s.updated_at or s.created_at),
        "addresses": fake.addresses(s) if s.status == "ACTIVE" else {},
        "accessIPv4": "", "accessIPv6": "", "links": _links(fake, "servers", s.id),
        "OS-DCF:diskConfig": "MANUAL", "progress": 0,
        "OS-EXT-AZ:availability_zone": s.availability_zone if s.status != "BUILD" else "",
        "config_drive": "", "key_name": s.key_name,
        "OS-SRV-USG:launched_at": iso(s.launched_at) if s.launched_at else None,
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-STS:task_state": s.task_state, "OS-EXT-STS:vm_state": s.vm_state,
        "OS-EXT-STS:power_state": s.power_state,
        "os-extended-volumes:volumes_attached": [
            {"id": v["id"], **({"delete_on_termination": v["delete_on_termination"]}
                               if _mv(req, 2, 3) else {})} for v in s.volumes],
    }
    if s.security_groups and s.status != "ERROR":
        body["security_groups"] = [{"name": n} for n in s.security_groups]
    if s.fault is not None:
        body["fault"] = dict(s.fault)
    if _mv(req, 2, 9):
        body["locked"] = False
    if _mv(req, 2, 19):
        body["description"] = s.description
    if _mv(req, 2, 26):
        body["tags"] = list(s.tags)
    if _mv(req, 2, 63):
        body["trusted_image_certificates"] = None
    if _mv(req, 2, 71):
        body["server_groups"] = []
    if _mv(req, 2, 73):
        body["locked_reason"] = None
    if _mv(req, 2, 96):
        body["pinned_availability_zone"] = None
    return body


def _server(fake: FakeOpenStack, req: Request, read: bool = True) -> Server:
    assert req.token is not None
    s = fake.servers.get(req.params["server_id"])
    if s is not None and read:
        fake.touch(s, read=True)
        s = fake.servers.get(s.id)
    if s is None or (req.token.project and s.project_id != req.token.project.id):
        raise ApiError(404, f"Instance {req.params['server_id']} could not be found.")
    return s


def _filtered_servers(fake: FakeOpenStack, req: Request, read: bool) -> list[Server]:
    assert req.token is not None and req.token.project is not None
    project = req.token.project.id
    items = [s for s in fake.servers.values() if s.project_id == project]
    name = req.arg("name")
    if name:
        try:
            pattern = re.compile(name)
        except re.error:
            pattern = re.compile(re.escape(name))
        items = [s for s in items if pattern.search(s.name)]
    for arg, test in (("tags", all), ("tags-any", any)):
        wanted = [t for t in (req.arg(arg) or "").split(",") if t]
        if wanted:
            items = [s for s in items if test(t in s.tags for t in wanted)]
    for arg, test in (("not-tags", all), ("not-tags-any", any)):
        wanted = [t for t in (req.arg(arg) or "").split(",") if t]
        if wanted:
            items = [s for s in items if not test(t in s.tags for t in wanted)]
    for arg in ("flavor", "image", "key_name"):
        value = req.arg(arg)
        if value:
            items = [s for s in items if {"flavor": s.flavor.id, "image": s.image_id,
                                          "key_name": s.key_name}[arg] == value]
    for s in items:  # only the servers answered count as read
        fake.touch(s, read=read)
    items = [s for s in items if s.id in fake.servers]
    status = req.arg("status")
    if status:
        items = [s for s in items if s.status == status.upper()]
    return sorted(items, key=lambda s: (-s.created_at, s.id))


@route("GET", "/v2.1/servers")
def list_servers(fake: FakeOpenStack, req: Request) -> Reply:
    page, links = _paged(fake, req, _filtered_servers(fake, req, read=False), "servers",
                         lambda s: s.id)
    body: dict[str, Any] = {"servers": [{"id": s.id, "name": s.name,
                                         "links": _links(fake, "servers", s.id)} for s in page]}
    if links:
        body["servers_links"] = links
    return Reply(200, body)


@route("GET", "/v2.1/servers/detail")
def list_servers_detail(fake: FakeOpenStack, req: Request) -> Reply:
    page, links = _paged(fake, req, _filtered_servers(fake, req, read=True), "servers/detail",
                         lambda s: s.id)
    body: dict[str, Any] = {"servers": [server_json(fake, req, s) for s in page]}
    if links:
        body["servers_links"] = links
    return Reply(200, body)


@route("GET", "/v2.1/servers/{server_id}")
def show_server(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"server": server_json(fake, req, _server(fake, req))})


def _ref(value: Any) -> str:
    """An id from ``imageRef``/``flavorRef``: a bare id or a link ending in one."""
    return str(value).rstrip("/").rsplit("/", 1)[-1] if value else ""


def _boot_source(fake: FakeOpenStack, spec: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The server's image id ("" when booted from a volume) and its volumes."""
    volumes: list[dict[str, Any]] = []
    boot_from_volume = False
    bdms = spec.get("block_device_mapping_v2") or []
    if not isinstance(bdms, list):
        raise ApiError(400, "Invalid input for field/attribute block_device_mapping_v2.")
    for bdm in bdms:
        if not isinstance(bdm, dict) or "source_type" not in bdm:
            raise ApiError(400, "Block Device Mapping is Invalid: Missing device UUID.")
        if bdm.get("destination_type") != "volume":
            continue
        if bdm["source_type"] == "image":
            image = fake.images.get(_ref(bdm.get("uuid")))
            if image is None:
                raise ApiError(400, f"Image {bdm.get('uuid')} could not be found.")
            if not bdm.get("volume_size"):
                raise ApiError(400, "Block Device Mapping is Invalid: Boot sequence for the "
                               "instance and image/block device mapping combination is not "
                               "valid.")
        volumes.append({"id": new_id() if bdm["source_type"] != "volume" else bdm.get("uuid"),
                        "delete_on_termination": bool(bdm.get("delete_on_termination"))})
        if str(bdm.get("boot_index")) == "0":
            boot_from_volume = True
    image_id = _ref(spec.get("imageRef"))
    if boot_from_volume:
        return "", volumes
    if not image_id:
        raise ApiError(400, "Block Device Mapping is Invalid: Boot sequence for the instance "
                       "and image/block device mapping combination is not valid.")
    image = fake.images.get(image_id)
    if image is None:
        raise ApiError(400, f"Image {image_id} could not be found.")
    if image.status != "active":
        raise ApiError(400, f"Image {image_id} is not active.")
    return image_id, volumes


def _network_ids(fake: FakeOpenStack, spec: dict[str, Any], project: str) -> list[dict[str, str]]:
    nets = spec.get("networks")
    if nets == "none":
        return []
    if nets in (None, "auto"):
        usable = [n for n in fake.networks.values()
                  if not n.external and (n.shared or n.project_id == project)]
        if len(usable) > 1 and nets is None:
            raise ApiError(409, "Multiple possible networks found, use a Network ID to be "
                           "more specific.")
        return [{"uuid": usable[0].id}] if usable else []
    if not isinstance(nets, list):
        raise ApiError(400, "Invalid input for field/attribute networks.")
    found = []
    for net in nets:
        if not isinstance(net, dict):
            raise ApiError(400, "Invalid input for field/attribute networks.")
        if net.get("port"):
            port = fake.ports.get(net["port"])
            if port is None:
                raise ApiError(400, f"Port id {net['port']} could not be found.")
            if port.device_id:
                raise ApiError(409, f"Port {port.id} is still in use.")
            found.append({"port": port.id})
        elif net.get("uuid") in fake.networks:
            found.append({"uuid": net["uuid"]})
        else:
            raise ApiError(400, f"Network {net.get('uuid')} could not be found.")
    return found


def _check_quota(fake: FakeOpenStack, project: str, flavor: Flavor) -> None:
    q = fake.quota_for(project)
    used = fake.usage(project)
    requested = {"cores": flavor.vcpus, "instances": 1, "ram": flavor.ram}
    allowed = {"cores": q.cores, "instances": q.instances, "ram": q.ram}
    overs = [r for r in sorted(requested)
             if allowed[r] >= 0 and used[r] + requested[r] > allowed[r]]
    if overs:
        def joined(values: dict[str, int]) -> str:
            return ", ".join(str(values[r]) for r in overs)
        raise ApiError(403, f"Quota exceeded for {', '.join(overs)}: Requested "
                       f"{joined(requested)}, but already used {joined(used)} of "
                       f"{joined(allowed)} {', '.join(overs)}")


@route("POST", "/v2.1/servers")
def create_server(fake: FakeOpenStack, req: Request) -> Reply:
    assert req.token is not None and req.token.project is not None
    spec = body_dict(req, "server")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ApiError(400, "Invalid input for field/attribute name. Value: "
                       f"{name!r}. {name!r} does not match '^(?! )[^\\x00-\\x1f]*(?<! )$'")
    project = req.token.project.id
    image_id, volumes = _boot_source(fake, spec)
    flavor_id = _ref(spec.get("flavorRef"))
    flavor = fake.flavors.get(flavor_id)
    if flavor is None or flavor.disabled or not (flavor.is_public or project in flavor.projects):
        raise ApiError(400, f"Flavor {flavor_id} could not be found.")
    nets = _network_ids(fake, spec, project)
    key_name = spec.get("key_name")
    if key_name is not None and key_name not in fake.keypairs.get(req.token.user.id, {}):
        raise ApiError(400, "Invalid key_name provided.")
    metadata = spec.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 255 and len(v) <= 255
            for k, v in metadata.items()):
        raise ApiError(400, "Invalid input for field/attribute metadata.")
    if len(metadata) > fake.quota_for(project).metadata_items:
        raise ApiError(403, "Quota exceeded for metadata_items: Requested "
                       f"{len(metadata)}, but already used 0 of "
                       f"{fake.quota_for(project).metadata_items} metadata_items")
    tags = spec.get("tags") or []
    if tags and not _mv(req, 2, 52):
        raise ApiError(400, "Invalid input for field/attribute server. Additional properties "
                       "are not allowed ('tags' was unexpected)")
    groups = [g.get("name") for g in spec.get("security_groups") or [] if isinstance(g, dict)]
    _check_quota(fake, project, flavor)
    now = fake.clock.now()
    server = Server(id=new_id(), name=name, project_id=project, user_id=req.token.user.id,
                    flavor=flavor, image_id=image_id, key_name=key_name,
                    metadata=dict(metadata), tags=[str(t) for t in tags],
                    security_groups=[g for g in groups if g] or ["default"], ports=[],
                    volumes=volumes, behaviour=fake.behaviour_for(name), created_at=now,
                    availability_zone=spec.get("availability_zone") or "nova",
                    description=spec.get("description"))
    server.ports = [fake.bind_port(server, n) for n in nets]
    fake.servers[server.id] = server
    body = {"id": server.id, "links": _links(fake, "servers", server.id),
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": g} for g in server.security_groups],
            "adminPass": server.admin_pass}
    return Reply(202, {"server": body},
                 {"Location": f"{fake.url}/compute/v2.1/servers/{server.id}"})


@route("DELETE", "/v2.1/servers/{server_id}")
def delete_server(fake: FakeOpenStack, req: Request) -> Reply:
    s = _server(fake, req, read=False)
    now = fake.clock.now()
    if s.behaviour.delete_failures > 0:
        s.behaviour.delete_failures -= 1
        s.set_error("Failed to terminate instance: the compute host did not answer", now)
        return Reply(204)
    if s.behaviour.delete_polls > 0 and not s.deleting:
        s.deleting, s.delete_polls_left, s.task_state = True, s.behaviour.delete_polls, "deleting"
        return Reply(204)
    if not s.deleting:
        fake.remove_server(s)
    return Reply(204)


@route("GET", "/v2.1/servers/{server_id}/metadata")
def list_metadata(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"metadata": dict(_server(fake, req, read=False).metadata)})


@route("POST", "/v2.1/servers/{server_id}/metadata")
def update_metadata(fake: FakeOpenStack, req: Request) -> Reply:
    s = _server(fake, req, read=False)
    s.metadata.update({str(k): str(v) for k, v in body_dict(req, "metadata").items()})
    return Reply(200, {"metadata": dict(s.metadata)})


@route("PUT", "/v2.1/servers/{server_id}/metadata")
def replace_metadata(fake: FakeOpenStack, req: Request) -> Reply:
    s = _server(fake, req, read=False)
    s.metadata = {str(k): str(v) for k, v in body_dict(req, "metadata").items()}
    return Reply(200, {"metadata": dict(s.metadata)})


@route("GET", "/v2.1/servers/{server_id}/tags")
def list_tags(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"tags": list(_server(fake, req, read=False).tags)})


@route("PUT", "/v2.1/servers/{server_id}/tags/{tag}")
def add_tag(fake: FakeOpenStack, req: Request) -> Reply:
    s = _server(fake, req, read=False)
    tag = req.params["tag"]
    if tag in s.tags:
        return Reply(204)
    s.tags.append(tag)
    return Reply(201, None, {"Location": f"{fake.url}/compute/v2.1/servers/{s.id}/tags/{tag}"})


@route("DELETE", "/v2.1/servers/{server_id}/tags/{tag}")
def delete_tag(fake: FakeOpenStack, req: Request) -> Reply:
    s = _server(fake, req, read=False)
    if req.params["tag"] not in s.tags:
        raise ApiError(404, f"Tag {req.params['tag']} could not be found.")
    s.tags.remove(req.params["tag"])
    return Reply(204)

