"""The OpenAPI 3.1 document of zuulish's REST API, generated from the routes' declarations
(``zuulish/web/endpoints.py``): the same models validate the requests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from zuulish.web.schemas import Error, Paged

if TYPE_CHECKING:
    from zuulish.web.endpoints import Endpoint

DESCRIPTION = (
    "The REST API of the zuulish project gating system. Everything about a tenant is under "
    "/api/tenant/{tenant}/; tenants with access rules answer only to callers whose token "
    "matches one. Errors answer {\"error\": message}. Lists take limit and skip.")
STATUS_TEXT = {400: "Malformed request: the message names the parameter or field",
               401: "Authentication required: no token, or one that is expired, malformed "
                    "or signed with an unknown key",
               403: "Forbidden: the token's claims match no rule of the tenant",
               404: "Not found: the message names what"}


def _param(name: str, where: str, required: bool, schema: dict[str, Any],
           components: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    description = schema.pop("description", None)
    schema.pop("title", None)
    param: dict[str, Any] = {"name": name, "in": where, "required": required,
                             "schema": schema}
    if description:
        param["description"] = description
    if schema.get("type") == "array" or any(s.get("type") == "array"
                                             for s in schema.get("anyOf", [])):
        param.update(style="form", explode=True)
    return param


def _model_params(model: type[BaseModel], where: str, components: dict[str, Any]
                  ) -> list[dict[str, Any]]:
    from zuulish.web.endpoints import REF
    schema = model.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    return [_param(name, where, where == "path" or name in required, prop, components)
            for name, prop in schema.get("properties", {}).items()]


def _operation(endpoint: Endpoint, components: dict[str, Any]) -> dict[str, Any]:
    from zuulish.web.endpoints import schema_of
    params: list[dict[str, Any]] = []
    declared: set[str] = set()
    if endpoint.params is not None:
        params += _model_params(endpoint.params, "path", components)
        declared = {p["name"] for p in params}
    params += [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
               for name in endpoint.path_params if name not in declared]
    if endpoint.query is not None:
        params += _model_params(endpoint.query, "query", components)
    op: dict[str, Any] = {"operationId": endpoint.handler.__name__,
                          "summary": endpoint.summary}
    if endpoint.tag:
        op["tags"] = [endpoint.tag]
    if params:
        op["parameters"] = params
    if endpoint.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": schema_of(endpoint.body, components, "validation")}}}
    ok: dict[str, Any] = {"description": "OK"}
    if endpoint.response is not None:
        ok["content"] = {endpoint.content_type: {
            "schema": schema_of(endpoint.response, components)}}
    if endpoint.query is not None and issubclass(endpoint.query, Paged):
        ok["headers"] = {"X-Total-Count": {
            "description": "how many entries the list has in all", "required": True,
            "schema": {"type": "integer", "minimum": 0}}}
    responses: dict[str, Any] = {str(endpoint.status): ok}
    error = {"application/json": {"schema": schema_of(Error, components)}}
    codes = set(endpoint.errors)
    if params or endpoint.body is not None:
        codes.add(400)
    if endpoint.access != "public":
        codes |= {401, 403}
        op["security"] = ([{"bearer": []}] if endpoint.access == "admin"
                          else [{}, {"bearer": []}])
    if "tenant" in endpoint.path_params:
        codes.add(404)
    for code in sorted(codes):
        responses[str(code)] = {"description": endpoint.errors.get(code, STATUS_TEXT.get(
            code, "Error")), "content": error}
    op["responses"] = responses
    return op


def openapi_document(endpoints: Sequence[Endpoint], version: str) -> dict[str, Any]:
    """The whole document for ``endpoints``; ``version`` is zuulish's."""
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        if endpoint.document:
            paths.setdefault(endpoint.doc_path, {})[endpoint.method.lower()] = \
                _operation(endpoint, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "zuulish", "version": version, "description": DESCRIPTION},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items())), "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "a JSON Web Token from one of the configured "
                                      "authenticators, or web.admin_token in the "
                                      "embedded mode"}}},
    }
