"""Per-project keys and Zuul's pkcs1-oaep secrets (real RSA, real store)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from zuulish.config.yaml_loader import EncryptedValue, load_yaml
from zuulish.secrets import ProjectKeys, SecretError, encrypt, encrypted_block
from zuulish.store import Store

BITS = 2048  # smaller keys keep the tests quick; the server uses 4096


@pytest.fixture
def keys(store: Store, tmp_path: Path) -> ProjectKeys:
    return ProjectKeys(store, tmp_path, bits=BITS)


def test_encrypted_block_round_trips_through_the_yaml_loader(keys: ProjectKeys) -> None:
    value = "s3cr3t " * 100  # longer than one RSA block
    chunks = encrypt(keys.public_key("forge", "org/app"), value)
    assert len(chunks) > 1
    data = load_yaml(encrypted_block("creds", "token", chunks), "x.yaml")
    token = data[0]["secret"]["data"]["token"]
    assert isinstance(token, EncryptedValue)
    assert keys.decrypt_data("forge", "org/app", {"token": token}) == {"token": value}


def test_private_keys_are_stored_encrypted_and_master_key_is_private(
        keys: ProjectKeys, store: Store, tmp_path: Path) -> None:
    pem = keys.public_pem("forge", "org/app")
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert keys.public_pem("forge", "org/app") == pem  # one key pair per project
    from sqlalchemy import select

    from zuulish.store import ProjectKeyRow
    with store.read() as s:
        row = s.scalar(select(ProjectKeyRow))
    assert b"PRIVATE KEY" not in row.private_encrypted
    assert stat.S_IMODE((tmp_path / "secrets.key").stat().st_mode) == 0o600


def test_secret_for_another_project_fails_to_decrypt_clearly(keys: ProjectKeys) -> None:
    chunks = encrypt(keys.public_key("forge", "org/other"), "value")
    keys.public_key("forge", "org/app")
    with pytest.raises(SecretError, match="cannot be decrypted with the project's key"):
        keys.decrypt("forge", "org/app", EncryptedValue(chunks))


def test_unknown_project_has_nothing_to_decrypt(keys: ProjectKeys) -> None:
    with pytest.raises(SecretError, match="has no key pair yet"):
        keys.decrypt("forge", "org/none", EncryptedValue(["AAAA"]))


def test_replaced_master_key_is_reported(store: Store, tmp_path: Path,
                                         keys: ProjectKeys) -> None:
    chunks = encrypt(keys.public_key("forge", "org/app"), "v")
    (tmp_path / "secrets.key").unlink()
    fresh = ProjectKeys(store, tmp_path, bits=BITS)
    with pytest.raises(SecretError, match="master key"):
        fresh.decrypt("forge", "org/app", EncryptedValue(chunks))
