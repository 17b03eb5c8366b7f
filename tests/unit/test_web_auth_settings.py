"""The ``auth:`` section of zuulish.yaml: authenticators as Zuul's ``[auth <name>]``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.oidc_issuer import private_pem, public_pem, rsa_key
from zuulish.errors import ConfigError
from zuulish.server_config import load_server_config

SECRET = "s" * 32
HEAD = "tenant_file: main.yaml\nauth:\n"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with an RSA key pair, another's private key and a non-key."""
    where = tmp_path_factory.mktemp("keys")
    key = rsa_key()
    (where / "public.pem").write_bytes(public_pem(key))
    (where / "private.pem").write_bytes(private_pem(key))
    (where / "other.pem").write_bytes(private_pem(rsa_key()))
    (where / "junk.pem").write_text("not a key\n")
    return where


def load(where: Path, text: str):
    (where / "zuulish.yaml").write_text(HEAD + text)
    return load_server_config(where / "zuulish.yaml")


def test_every_driver_is_read_with_its_defaults(keys: Path) -> None:
    config = load(keys, f"""\
  ops:
    driver: HS256
    issuer_id: zuulish_operator
    client_id: zuulish
    secret: {SECRET}
    allow_authz_override: true
    max_validity_time: 600
    skew: 5
  signer:
    driver: RS256
    issuer_id: signer
    client_id: zuulish
    public_key: public.pem
    private_key: private.pem
  sso:
    driver: OpenIDConnect
    realm: example
    issuer_id: https://sso.example.com/realms/example
    client_id: dashboard
    default: true
    uid_claim: preferred_username
""")
    auths = config.auth.authenticators
    assert auths["ops"].secret == SECRET and auths["ops"].skew == 5
    assert auths["ops"].max_validity_time == 600 and auths["ops"].allow_authz_override
    assert auths["ops"].realm == "zuulish" and auths["ops"].uid_claim == "sub"
    assert auths["signer"].can_sign() and "PUBLIC KEY" in auths["signer"].public_key
    sso = auths["sso"]
    assert (sso.scope, sso.keys_url, sso.uid_claim) == ("openid profile", None,
                                                        "preferred_username")
    assert config.auth.default() is sso and config.auth.realm() == "example"
    assert not sso.can_sign()


def test_no_auth_section_means_no_authenticators(tmp_path: Path) -> None:
    (tmp_path / "zuulish.yaml").write_text("tenant_file: main.yaml\n")
    assert load_server_config(tmp_path / "zuulish.yaml").auth.authenticators == {}


@pytest.mark.parametrize("text, line, message", [
    ("  a:\n    driver: HS512\n", 4, "key 'auth.a.driver' must be one of HS256, RS256, "
                                    "OpenIDConnect, not 'HS512'"),
    ("  a:\n    driver: HS256\n    issuer_id: i\n    client_id: c\n"
     f"    secret: {SECRET}\n    keys_url: http://x/\n", 8,
     "unknown key 'auth.a.keys_url' for the HS256 driver"),
    ("  a:\n    driver: HS256\n    issuer_id: i\n    client_id: c\n    secret: short\n", 7,
     "must be at least 32 characters"),
    (f"  a:\n    driver: HS256\n    client_id: c\n    secret: {SECRET}\n", 4,
     "missing required key 'auth.a.issuer_id'"),
    (f"  a:\n    driver: HS256\n    issuer_id: i\n    secret: {SECRET}\n", 4,
     "missing required key 'auth.a.client_id'"),
    (f"  a:\n    driver: HS256\n    issuer_id: i\n    client_id: c\n    secret: {SECRET}\n"
     "    skew: -1\n", 8, "key 'auth.a.skew' must be a non-negative whole number"),
    (f"  a:\n    driver: HS256\n    issuer_id: i\n    client_id: c\n    secret: {SECRET}\n"
     "    max_validity_time: 0\n", 8, "max_validity_time' must be a positive"),
    (f"  a:\n    driver: HS256\n    issuer_id: i\n    client_id: c\n    secret: {SECRET}\n"
     "    default: yes please\n", 8, "key 'auth.a.default' must be true or false"),
    ("  a:\n    driver: RS256\n    issuer_id: i\n    client_id: c\n", 4,
     "missing required key 'auth.a.public_key'"),
    ("  a:\n    driver: RS256\n    issuer_id: i\n    client_id: c\n    public_key: junk.pem\n",
     7, "is not an unencrypted PEM public key"),
    ("  a:\n    driver: RS256\n    issuer_id: i\n    client_id: c\n    public_key: nope.pem\n",
     7, "cannot read"),
    ("  a:\n    driver: RS256\n    issuer_id: i\n    client_id: c\n    public_key: public.pem\n"
     "    private_key: other.pem\n", 8, "is not the private half of auth.a.public_key"),
    ("  a:\n    driver: OpenIDConnect\n    issuer_id: sso\n    client_id: c\n", 5,
     "must be the issuer's URL"),
    ("  a:\n    driver: OpenIDConnect\n    issuer_id: https://i/\n    client_id: c\n"
     "    keys_url: file:///etc/passwd\n", 7, "must be an http:// or https:// URL"),
    (f"  a:\n    driver: HS256\n    issuer_id: i\n    client_id: c\n    secret: {SECRET}\n"
     f"    default: true\n  b:\n    driver: HS256\n    issuer_id: i\n    client_id: c\n"
     f"    secret: {SECRET}\n    default: true\n", 9, "only one authenticator may be the "
                                                    "default"),
    ("  a: HS256\n", 3, "key 'auth.a' must be a mapping"),
])
def test_bad_authenticators_are_refused_at_their_line(keys: Path, text: str, line: int,
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(keys, text)
    assert message in info.value.message and info.value.line == line, info.value
    assert info.value.file == str(keys / "zuulish.yaml")
