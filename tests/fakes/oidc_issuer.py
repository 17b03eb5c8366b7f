"""An OpenID Connect issuer's public side on 127.0.0.1, for the web auth tests: its
``/.well-known/openid-configuration`` and its key set (JWKS) over real HTTP, RSA keys
made with ``cryptography``, tokens signed with PyJWT, and a count of the requests
each path got."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


class Issuer:
    """The issuer's state: its keys by kid (those published), and what was asked."""

    def __init__(self) -> None:
        self.url = ""
        self.keys: dict[str, rsa.RSAPrivateKey] = {"k1": rsa_key()}
        self.extra_jwks: list[dict[str, Any]] = []  # published as they are (attacks)
        self.requests: Counter[str] = Counter()
        # who signs in through the authorization endpoint (the browser tests' user)
        self.login_claims: dict[str, Any] = {"sub": "dana"}
        self.codes: dict[str, dict[str, str]] = {}  # code -> the request that got it

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys + self.extra_jwks}

    def token(self, claims: dict[str, Any], kid: str = "k1",
              key: rsa.RSAPrivateKey | None = None, lifetime: int = 300) -> str:
        now = int(time.time())
        body = {"iss": self.url, "iat": now, "exp": now + lifetime, **claims}
        return jwt.encode(body, key or self.keys[kid], algorithm="RS256",
                          headers={"kid": kid})


@contextmanager
def serve_issuer() -> Iterator[Issuer]:
    """An issuer served on a free port of 127.0.0.1 until the block ends."""
    issuer = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorize(self) -> None:
            """The authorization endpoint: the user is signed in at once."""
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if query.get("response_type") != "code" or \
                    query.get("code_challenge_method") != "S256":
                self.send(400, {"error": "invalid_request"})
                return
            code = secrets.token_urlsafe(16)
            issuer.codes[code] = query
            back = query["redirect_uri"] + "?" + urlencode({"code": code,
                                                            "state": query["state"]})
            self.send_response(302)
            self.send_header("Location", back)
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            """The token endpoint: a code for a token, when the PKCE verifier fits."""
            issuer.requests[self.path] += 1
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            asked = issuer.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(verifier).digest()).decode().rstrip("=")
            if self.path != "/token" or asked is None or \
                    asked["code_challenge"] != challenge or \
                    asked["redirect_uri"] != form.get("redirect_uri") or \
                    asked["client_id"] != form.get("client_id"):
                self.send(400, {"error": "invalid_grant"})
                return
            token = issuer.token({"aud": asked["client_id"], **issuer.login_claims})
            self.send(200, {"id_token": token, "token_type": "Bearer"})

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            issuer.requests[self.path] += 1
            if self.path.startswith("/auth?"):
                self.authorize()
                return
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks",
                        "authorization_endpoint": f"{issuer.url}/auth",
                        "token_endpoint": f"{issuer.url}/token"}
            elif self.path == "/jwks":
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            self.send(200, body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
