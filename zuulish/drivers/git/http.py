"""The built-in forge over HTTP: git's smart protocol at ``/git/<project>.git``.

Clone and fetch (``git-upload-pack``) need a user's credentials, the components'
credential, or a project that the connection's ``anonymous_read`` opens to
everyone; push (``git-receive-pack``) needs a user's, never anonymous and never
the components'. A push runs the repository's own hooks, as a push by path
does, with the user in their environment: ``ZUULISH_FORGE_USER`` becomes the
owner of the changes it makes, and an administrator gets ``ZUULISH_FORGE_ADMIN=1``
(pushes straight to branches); everyone else may push to ``refs/for/*`` only,
and the hook tells them so.

Answers: 404 for a path that names no repository (before anything else, so
nothing outside the forge's root is ever looked at), 400 for anything but the
smart protocol, 401 with a Basic challenge for missing or wrong credentials,
403 for the components' credential on a push, 415 for a body without git's
content type, 413 for a body past ``max_request_bytes``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from zuulish.drivers.git.connection import ADMIN_ENV, PLAIN_GIT, GitForge
from zuulish.drivers.git.http_auth import CHALLENGE, Authenticator, Identity
from zuulish.drivers.git.http_backend import run_backend
from zuulish.drivers.git.http_paths import SERVICES, GitPath, parse_path, repository
from zuulish.drivers.git.intake import USER_ENV
from zuulish.drivers.git.settings import ForgeSettings

PREFIX = "/git/"
#: what git's Git-Protocol header may say (``version=2``), passed on as GIT_PROTOCOL
GIT_PROTOCOL = re.compile(r"[A-Za-z0-9=:._-]{1,64}")
T = TypeVar("T")


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=f"zuulish: {message}\n", headers=headers)


class ForgeHttp:
    """The handlers of one forge connection's HTTP routes."""

    def __init__(self, forge: GitForge, settings: ForgeSettings, auth: Authenticator,
                 prefix: str = PREFIX):
        self.prefix = prefix
        self.forge = forge
        self.settings = settings
        self.auth = auth

    def routes(self) -> list[web.RouteDef]:
        path = self.prefix + "{path:.+}"
        return [web.get(path, self.serve), web.post(path, self.serve)]

    async def serve(self, request: web.Request) -> web.StreamResponse:
        wanted = parse_path(request.match_info["path"])
        if wanted is None or "\0" in request.path:
            return _text(404, "no such repository")
        service = self._service(request, wanted)
        if isinstance(service, web.Response):
            return service
        identity = await _blocking(self.auth.identify, request.headers.get("Authorization"))
        if identity is None:
            return _text(401, "wrong or revoked credentials", CHALLENGE)
        writes = service == "git-receive-pack"
        if identity.anonymous and (writes or
                                   not self.settings.readable_by_anyone(wanted.project)):
            return _text(401, "credentials are required: your user name and a token "
                              "(`zuulish user token NAME`)", CHALLENGE)
        if writes and not identity.may_push:
            return _text(403, "the components' credential reads repositories only")
        repo = await _blocking(repository, self.forge.root, wanted.project)
        if repo is None:
            return _text(404, "no such repository")
        length = request.content_length
        if length is not None and length > self.settings.max_request_bytes:
            return _text(413, f"the request is larger than "
                              f"{self.settings.max_request_bytes} bytes")
        env = self._environment(request, repo, wanted, identity)
        return await run_backend(request, env, self.settings.max_request_bytes)

    def _service(self, request: web.Request, wanted: GitPath) -> str | web.Response:
        """The git service asked for, or the answer to a request that is no git's."""
        if wanted.endpoint == "info/refs":
            if request.method != "GET":
                return _text(405, "info/refs is read with GET")
            service = request.query.get("service")
            if service not in SERVICES:
                return _text(400, "only git's smart HTTP protocol is served: "
                                  "info/refs?service=git-upload-pack or git-receive-pack")
            return service
        if request.method != "POST":
            return _text(405, f"{wanted.endpoint} takes POST")
        expected = f"application/x-{wanted.endpoint}-request"
        if request.content_type != expected:
            return _text(415, f"{wanted.endpoint} takes a body of type {expected}")
        return wanted.endpoint

    def _environment(self, request: web.Request, repo: Path, wanted: GitPath,
                     identity: Identity) -> dict[str, str]:
        """The CGI variables of ``git http-backend`` for this request, on top of this
        process's environment less anything git or the hooks would read from it."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GIT_", "ZUULISH_FORGE_", "HTTP_", "REMOTE_",
                                    "CONTENT_"))}
        env.update(PLAIN_GIT)
        relative = repo.relative_to(os.path.realpath(self.forge.root))
        env.update({
            "GIT_PROJECT_ROOT": os.path.realpath(self.forge.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{relative.as_posix()}/{wanted.endpoint}",
            "REQUEST_METHOD": request.method,
            "QUERY_STRING": request.query_string,
            "REMOTE_ADDR": request.remote or "",
        })
        if request.method == "POST":
            env["CONTENT_TYPE"] = request.content_type
            # aiohttp hands the body over decompressed: git gets the plain bytes,
            # and their length is unknown when the client compressed them
            if request.content_length is not None \
                    and "Content-Encoding" not in request.headers:
                env["CONTENT_LENGTH"] = str(request.content_length)
        protocol = request.headers.get("Git-Protocol", "")
        if GIT_PROTOCOL.fullmatch(protocol):
            env["GIT_PROTOCOL"] = protocol
        if identity.name is not None and not identity.component:
            env["REMOTE_USER"] = identity.name
            env[USER_ENV] = identity.name
            if identity.admin:
                env[ADMIN_ENV] = "1"
        return env


async def _blocking(func: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)
