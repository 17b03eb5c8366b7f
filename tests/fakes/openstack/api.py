"""The pieces every service of the fake cloud is written with: requests, replies, API
errors and the route tables (one per service, path patterns relative to its prefix)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.openstack.server import FakeOpenStack
    from tests.fakes.openstack.state import Token


class ApiError(Exception):
    """An error answer; each service writes it in its own shape."""

    def __init__(self, status: int, message: str, kind: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind  # Neutron's error type ("NetworkNotFound"), Nova's key override


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON, or a str sent as text/plain
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str  # relative to the service's prefix ("/v2.1/servers/detail")
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    token: Token | None = None
    microversion: tuple[int, int] | None = None  # compute only

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


Handler = Callable[["FakeOpenStack", Request], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    authenticated: bool


class Routes:
    """One service's routes, matched in the order they were declared."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def __call__(self, method: str, template: str, *, authenticated: bool = True
                 ) -> Callable[[Handler], Handler]:
        """Declare ``method template`` (``{name}`` matches one path segment)."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        pattern = re.compile(f"^{regex}/?$")

        def register(fn: Handler) -> Handler:
            self.routes.append(Route(method, pattern, fn, authenticated))
            return fn
        return register

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route for the call, its parameters, and whether the path is known at all
        (False: 404; True with no route: 405)."""
        known = False
        for r in self.routes:
            m = r.pattern.match(path)
            if m:
                known = True
                if r.method == method:
                    return r, m.groupdict(), True
        return None, {}, known


def body_dict(req: Request, key: str) -> dict[str, Any]:
    """``req.body[key]`` as a dict, or a 400 in the service's shape."""
    if not isinstance(req.body, dict) or not isinstance(req.body.get(key), dict):
        raise ApiError(400, f"Invalid input for field/attribute {key}. "
                       f"Value: {req.body!r}. '{key}' is a required property")
    return req.body[key]
