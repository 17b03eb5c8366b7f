"""The one registry of the web's routes: each declared once, with the models that validate
its request and describe its answer, and the access it needs.

From the same declarations come the aiohttp routes (:meth:`Registry.routes`), the request
checks (unknown tenant 404, access 401/403, malformed parameters 400 naming the field)
and the OpenAPI document (:meth:`Registry.openapi`), so the document cannot drift from
what the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, TypeAdapter, ValidationError

from zuulish.config.layout import Layout
from zuulish.store import Store
from zuulish.web.access import LOG as ACCESS_LOG
from zuulish.web.access import Action, Decision
from zuulish.web.auth.settings import DEFAULT_REALM
from zuulish.web.auth.tickets import TicketRefused
from zuulish.web.client_address import FORWARDED_FOR, client_address
from zuulish.web.keys import (
    ACCESS,
    LAYOUTS,
    RULES_WATCH,
    STORE,
    STREAM_LIMITS,
    TEMPLATES,
    TICKETS,
    TRUSTED_PROXIES,
    WEB_URL,
)
from zuulish.web.schemas import Error

AccessLevel = Literal["public", "read", "admin"]
Handler = Callable[["Call"], Awaitable[Any]]
#: a stream's name from the request's path parameters, as its tickets name it
StreamName = Callable[[Mapping[str, str]], str]
T = TypeVar("T")
REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{(\w+)(?::[^{}]*(?:\{[^{}]*\}[^{}]*)*)?\}")
LOG = logging.getLogger("zuulish.web")
#: How many entries a paged list has in all.
TOTAL_HEADER = "X-Total-Count"


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None
               ) -> web.HTTPException:
    """The API's error answer, to raise: ``{"error": message}`` with ``status``."""
    cls = web.HTTPException
    for candidate in (web.HTTPBadRequest, web.HTTPUnauthorized, web.HTTPForbidden,
                      web.HTTPNotFound, web.HTTPConflict, web.HTTPRequestRangeNotSatisfiable,
                      web.HTTPTooManyRequests):
        if candidate.status_code == status:
            cls = candidate
            break
    exc = cls(text=json.dumps({"error": message}), content_type="application/json",
              headers=headers)
    exc.set_status(status)
    return exc


@dataclass
class Endpoint:
    """One route: what it answers, what it takes, who may call it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    access: AccessLevel
    response: Any = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    params: type[BaseModel] | None = None
    status: int = 200
    errors: dict[int, str] = field(default_factory=dict)
    document: bool = True
    page: bool = False
    content_type: str = "application/json"
    #: a stream: its name for tickets (``?ticket=`` then opens it in place of a token)
    stream: StreamName | None = None

    @property
    def doc_path(self) -> str:
        """The path as OpenAPI writes it: ``{project}`` without aiohttp's regex."""
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    @property
    def path_params(self) -> list[str]:
        return [m.group(1) for m in _PARAM.finditer(self.path)]


class Call:
    """What a handler gets: the request, its checked parts and the app's objects."""

    def __init__(self, request: web.Request, endpoint: Endpoint) -> None:
        self.request = request
        self.endpoint = endpoint
        self.app = request.app
        self.tenant: str = ""
        self.layout: Layout | None = None
        self.query: Any = None
        self.body: Any = None
        self.params: Any = None
        self.identity: str | None = None
        #: when the authority of the caller's read ends (its token's expiry; None: never)
        self.expires: float | None = None
        self.headers: dict[str, str] = {}
        #: a stream's tenant, and its rules when the stream was decided
        self._stream_rules: tuple[str, object | None] | None = None

    @property
    def store(self) -> Store:
        return self.app[STORE]

    @property
    def web_url(self) -> str:
        return self.app[WEB_URL]

    @property
    def match(self) -> Mapping[str, str]:
        return self.request.match_info

    def paged(self, items: Sequence[T], total: int | None = None) -> list[T]:
        """The window of ``items`` the query's ``skip`` and ``limit`` ask for, with the
        ``X-Total-Count`` header (``total``: when ``items`` is already the window)."""
        self.headers[TOTAL_HEADER] = str(len(items) if total is None else total)
        if total is not None:
            return list(items)
        skip = self.query.skip
        return list(items[skip:skip + self.query.limit])

    def layouts(self) -> dict[str, Layout]:
        """A snapshot of the tenants' layouts (reconfiguration swaps them from other
        threads)."""
        return dict(self.app[LAYOUTS].layouts)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run a blocking call (store reads, file reads) in the default executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(func, *args))

    def error(self, status: int, message: str,
              headers: Mapping[str, str] | None = None) -> web.HTTPException:
        """The error to raise: JSON for the API, text for pages."""
        if self.endpoint.page:
            exc = web.HTTPException(text=message, headers=headers)
            exc.set_status(status)
            return exc
        return json_error(status, message, headers)

    def not_found(self, message: str) -> web.HTTPException:
        return self.error(404, message)

    def bad_request(self, message: str) -> web.HTTPException:
        return self.error(400, message)

    def decide(self, tenant: str | None, action: Action) -> Decision:
        header = self.request.headers.get("Authorization")
        return self.app[ACCESS].decide(header, tenant, action)

    async def authorize(self, tenant: str | None, action: Action) -> None:
        """Go on only if the caller may take ``action`` on ``tenant``; the refusal's
        reason goes to the log, not to the client. A token is checked off the event
        loop (it may fetch an issuer's keys). A stream's read may be allowed by a
        ticket (``?ticket=``) instead; nothing else is. A stream notes the rules it
        is decided under (taken before the decision: see ``stream_slot``)."""
        if self.endpoint.stream is not None and tenant is not None:
            self._stream_rules = (tenant, self.app[RULES_WATCH].rules(tenant))
        if (action == "read" and tenant is not None and self.endpoint.stream is not None
                and "ticket" in self.request.query):
            decision = await self.run(self._ticket_decision, tenant,
                                      self.request.query.getone("ticket"))
        elif self.request.headers.get("Authorization") is None:
            decision = self.decide(tenant, action)
        else:
            decision = await self.run(self.decide, tenant, action)
        if decision.allowed:
            self.identity = decision.identity
            self.expires = decision.expires
            return
        ACCESS_LOG.info("refused %s %s (tenant %s, %s): %s", self.request.method,
                        self.request.path, tenant, action, decision.reason)
        if self.endpoint.page:  # a page says only that, with the dashboard's sign-in
            raise self._refused_page(decision)
        raise self.error(decision.status, decision.message, decision.headers)

    def _ticket_decision(self, tenant: str, ticket: str) -> Decision:
        """Whether ``ticket`` opens this stream of ``tenant`` (blocking: the key may be
        read from disk). A ticket made for anyone (a tenant open when it was made) is
        decided again as anyone: the tenant may have got access-rules since."""
        assert self.endpoint.stream is not None
        access = self.app[ACCESS]
        try:
            grant = self.app[TICKETS].check(ticket, tenant,
                                            self.endpoint.stream(self.request.match_info))
        except TicketRefused as exc:
            realm = getattr(access, "realm", DEFAULT_REALM)
            return Decision(False, 401, "invalid stream ticket: ask for a new one",
                            f"stream ticket refused: {exc}",
                            headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})
        if grant.sub is None:
            return access.decide(None, tenant, "read")
        return Decision(True, reason="stream ticket", identity=grant.sub,
                        expires=grant.until)

    def client_address(self) -> str:
        """The caller's address: past the trusted proxies (``web.trusted_proxies``),
        the client they forward for."""
        return client_address(self.request.remote,
                              self.request.headers.getall(FORWARDED_FOR, []),
                              self.app[TRUSTED_PROXIES])

    @contextlib.contextmanager
    def stream_slot(self) -> Iterator[asyncio.Event]:
        """Hold one of the caller's streams (its token's user, else its address) for
        the block; 429 when it holds as many as it may. The event it yields is set when
        the stream's tenant's rules are no longer those it was allowed under: the
        stream is to end then (its client opens it again, under the new rules)."""
        client = (f"user:{self.identity}" if self.identity is not None
                  else f"address:{self.client_address()}")
        limits = self.app[STREAM_LIMITS]
        if not limits.acquire(client):
            ACCESS_LOG.info("refused %s %s: %s holds %d streams already",
                            self.request.method, self.request.path, client,
                            limits.max_per_client)
            raise self.error(429, f"too many open streams: a client may hold "
                                  f"{limits.max_per_client} at once (web.max_streams_per_"
                                  "client); close one and try again")
        try:
            if self._stream_rules is None:  # of no tenant: no rules to change
                yield asyncio.Event()
            else:
                with self.app[RULES_WATCH].opened(*self._stream_rules) as ended:
                    yield ended
        finally:
            limits.release(client)

    def _refused_page(self, decision: Decision) -> web.HTTPException:
        """The page of a refusal: its message and the sign-in (web/static/auth.js)."""
        page = self.render("refused.html", message=decision.message,
                           tenant=self.request.match_info.get("tenant"))
        exc = web.HTTPException(text=page.text, content_type="text/html",
                                headers=decision.headers)
        exc.set_status(decision.status)
        return exc

    def readable_tenants(self) -> list[str]:
        header = self.request.headers.get("Authorization")
        return self.app[ACCESS].readable(header, sorted(self.layouts()))

    def render(self, template: str, **context: Any) -> web.Response:
        """A page from ``web/templates``."""
        env = self.app[TEMPLATES]
        context.setdefault("tenant", self.tenant or None)
        html = env.get_template(template).render(web_url=self.web_url,
                                                 tenants=self.readable_tenants(), **context)
        return web.Response(text=html, content_type="text/html")


def _field_hint(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    if model is None or not loc or not isinstance(loc[0], str):
        return ""
    info = model.model_fields.get(loc[0])
    return f" ({info.description})" if info is not None and info.description else ""


def _validation_message(where: str, model: type[BaseModel], exc: ValidationError) -> str:
    """The first problem, naming its field: ``query parameter 'limit': ...``."""
    first = exc.errors(include_url=False)[0]
    loc = tuple(first.get("loc", ()))
    name = ".".join(str(part) for part in loc) or "?"
    if first.get("type") == "extra_forbidden":
        known = ", ".join(sorted(model.model_fields)) or "none"
        return f"{where} {name!r} is not known; known: {known}"
    return f"{where} {name!r}: {first.get('msg')}{_field_hint(model, loc)}"


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (list, tuple, set):
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation))


def _query_values(model: type[BaseModel], query: MultiDictProxy[str]) -> dict[str, Any]:
    """The query string as the model's fields: repeated only where the field is a list."""
    values: dict[str, Any] = {}
    for key in dict.fromkeys(query.keys()):
        given = query.getall(key)
        info = model.model_fields.get(key)
        if info is not None and _is_list(info.annotation):
            values[key] = given
        elif len(given) > 1:
            raise json_error(400, f"query parameter {key!r} is given {len(given)} times; "
                                   "give it once")
        else:
            values[key] = given[0]
    return values


class Registry:
    """The routes of the web application, declared with their models."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, *, summary: str = "", tag: str = "",
              access: AccessLevel, response: Any = None,
              query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
              params: type[BaseModel] | None = None, status: int = 200,
              errors: Mapping[str, str] | Mapping[int, str] | None = None,
              document: bool = True, page: bool = False,
              content_type: str = "application/json",
              stream: StreamName | None = None) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            for known in self.endpoints:
                if (known.method, known.path) == (method, path):
                    raise ValueError(f"{method} {path} is declared twice")
            if stream is not None and (query is None or "ticket" not in query.model_fields):
                raise ValueError(f"{method} {path} is a stream: its query must declare "
                                 "'ticket'")
            self.endpoints.append(Endpoint(
                method=method, path=path, handler=handler,
                summary=summary or (handler.__doc__ or "").strip().split("\n\n")[0],
                tag=tag, access=access, response=response, query=query, body=body,
                params=params, status=status,
                errors={int(k): v for k, v in (errors or {}).items()},
                document=document and not page, page=page, content_type=content_type,
                stream=stream))
            return handler
        return declare

    def get(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kwargs)

    def page(self, path: str, *, access: AccessLevel = "read",
             **kwargs: Any) -> Callable[[Handler], Handler]:
        """An HTML page: checked like the API, not in the OpenAPI document."""
        return self.route("GET", path, access=access, page=True, **kwargs)

    def routes(self) -> list[web.RouteDef]:
        return [web.route(e.method, e.path, _aiohttp_handler(e)) for e in self.endpoints]

    def openapi(self, version: str) -> dict[str, Any]:
        from zuulish.web.openapi import openapi_document
        return openapi_document(self.endpoints, version)


async def _prepare(call: Call) -> None:
    """Resolve the tenant, check access and validate the request's parts."""
    endpoint, request = call.endpoint, call.request
    if "tenant" in request.match_info:
        name = request.match_info["tenant"]
        layouts = call.layouts()
        if name not in layouts:
            raise call.not_found(f"no tenant named {name!r}; tenants: "
                                 f"{', '.join(call.readable_tenants()) or 'none'}")
        if endpoint.access != "public":
            await call.authorize(name, "read")
            if endpoint.access == "admin":
                await call.authorize(name, "admin")
        call.tenant, call.layout = name, layouts[name]
    elif endpoint.access == "admin":
        await call.authorize(None, "admin")
    if endpoint.params is not None:
        declared = endpoint.params.model_fields
        call.params = _validated(call, endpoint.params,
                                 {k: v for k, v in request.match_info.items() if k in declared},
                                 "path parameter")
    if endpoint.query is not None:
        call.query = _validated(call, endpoint.query,
                                _query_values(endpoint.query, request.query),
                                "query parameter")
    elif request.query and not endpoint.page:
        raise call.bad_request(f"{request.method} {endpoint.doc_path} takes no query "
                               f"parameters; given: {', '.join(sorted(request.query))}")
    if endpoint.body is not None:
        try:
            raw = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise call.bad_request("the body must be a JSON object") from None
        if not isinstance(raw, dict):
            raise call.bad_request("the body must be a JSON object")
        call.body = _validated(call, endpoint.body, raw, "body field")


def _validated(call: Call, model: type[BaseModel], values: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise call.bad_request(_validation_message(where, model, exc)) from None


def _aiohttp_handler(endpoint: Endpoint) -> Callable[[web.Request],
                                                     Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        call = Call(request, endpoint)
        await _prepare(call)
        result = await endpoint.handler(call)
        if isinstance(result, web.StreamResponse):
            result.headers.update(call.headers)
            return result
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return web.json_response(result, status=endpoint.status, headers=call.headers)
    handle.__name__ = endpoint.handler.__name__
    return handle


#: Every route of the web application; feature modules declare theirs on it.
API = Registry()


def schema_of(annotation: Any, components: dict[str, Any],
              mode: Literal["validation", "serialization"] = "serialization"
              ) -> dict[str, Any]:
    """The JSON schema of a type, its models moved to ``components`` and referenced."""
    schema = TypeAdapter(annotation).json_schema(mode=mode, ref_template=REF)
    components.update(schema.pop("$defs", {}))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        components[annotation.__name__] = schema
        return {"$ref": REF.format(model=annotation.__name__)}
    return schema


ERROR_SCHEMA = Error
