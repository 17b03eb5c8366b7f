"""Glance (image API v2) of the fake cloud: version discovery and reading images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.openstack.api import ApiError, Reply, Request, Routes
from tests.fakes.openstack.state import Image, iso

if TYPE_CHECKING:
    from tests.fakes.openstack.server import FakeOpenStack

route = Routes()
VERSIONS = ("v2.16", "v2.15", "v2.9", "v2.7", "v2.0")
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            409: "Conflict", 500: "Internal Server Error", 503: "Service Unavailable"}


def error_body(err: ApiError) -> dict[str, Any]:
    """Glance's errors are webob's: with ``Accept: application/json``, this shape."""
    reason = _REASONS.get(err.status, "Error")
    return {"code": f"{err.status} {reason}", "title": reason, "message": err.message}


def versions_json(fake: FakeOpenStack) -> dict[str, Any]:
    return {"versions": [
        {"id": v, "status": "CURRENT" if i == 0 else "SUPPORTED",
         "links": [{"rel": "self", "href": f"{fake.url}/image/v2/"}]}
        for i, v in enumerate(VERSIONS)]}


@route("GET", "", authenticated=False)
def versions(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(300, versions_json(fake))


@route("GET", "/versions", authenticated=False)
def versions_list(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, versions_json(fake))


@route("GET", "/v2", authenticated=False)
def version_two(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(300, versions_json(fake))


def image_json(fake: FakeOpenStack, image: Image) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": image.id, "name": image.name, "status": image.status,
        "visibility": image.visibility, "protected": False, "os_hidden": False,
        "checksum": "d41d8cd98f00b204e9800998ecf8427e", "os_hash_algo": "sha512",
        "os_hash_value": "cf83e1357eefb8bd" * 8, "container_format": image.container_format,
        "disk_format": image.disk_format, "size": image.size, "virtual_size": None,
        "min_disk": image.min_disk, "min_ram": image.min_ram, "owner": image.owner,
        "created_at": iso(image.created_at), "updated_at": iso(image.created_at),
        "tags": list(image.tags), "file": f"/v2/images/{image.id}/file",
        "self": f"/v2/images/{image.id}", "schema": "/v2/schemas/image",
        "locations": [], "stores": "file"}
    body.update(image.properties)
    return body


_CONTROL = {"limit", "marker", "sort", "sort_key", "sort_dir"}


def _visible(req: Request, image: Image) -> bool:
    """Public and community images, and the project's own (shared ones: not modelled)."""
    project = req.token.project.id if req.token and req.token.project else ""
    return image.visibility in ("public", "community") or image.owner == project


@route("GET", "/v2/images")
def list_images(fake: FakeOpenStack, req: Request) -> Reply:
    items = sorted((i for i in fake.images.values() if _visible(req, i)),
                   key=lambda i: (-i.created_at, i.id))
    for key, values in req.query.items():
        if key in _CONTROL:
            continue
        if key == "tag":
            items = [i for i in items if all(v in i.tags for v in values)]
            continue
        items = [i for i in items if str(image_json(fake, i).get(key)) == values[-1]]
    marker = req.arg("marker")
    if marker is not None:
        ids = [i.id for i in items]
        if marker not in ids:
            raise ApiError(400, f"marker {marker} could not be found.")
        items = items[ids.index(marker) + 1:]
    limit = int(req.arg("limit") or 25)
    page = items[:limit]
    body: dict[str, Any] = {"images": [image_json(fake, i) for i in page],
                            "first": "/v2/images", "schema": "/v2/schemas/images"}
    if len(items) > limit:
        body["next"] = f"/v2/images?marker={page[-1].id}&limit={limit}"
    return Reply(200, body)


@route("GET", "/v2/images/{image_id}")
def show_image(fake: FakeOpenStack, req: Request) -> Reply:
    image = fake.images.get(req.params["image_id"])
    if image is None or not _visible(req, image):
        raise ApiError(404, f"No image found with ID {req.params['image_id']}")
    return Reply(200, image_json(fake, image))
