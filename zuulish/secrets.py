"""Secrets: per-project RSA key pairs and Zuul's ``!encrypted/pkcs1-oaep`` format.

Each project gets a 4096-bit key pair the first time one is needed. The public
half is handed out (``zuulish encrypt``); the private half is stored encrypted
with the server's master key (a Fernet key in ``<state_dir>/secrets.key``,
created 0600 on first use). Values are encrypted with RSA OAEP (SHA-1, as Zuul
does) in chunks that fit the key, each base64-encoded: a block written for Zuul
decrypts here and the other way round.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select

from zuulish.config.yaml_loader import EncryptedValue
from zuulish.errors import UserError
from zuulish.store import ProjectKeyRow, Store

KEY_BITS = 4096
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(),
                    label=None)


class SecretError(UserError):
    """A secret that cannot be decrypted or used."""


def master_key(state_dir: Path) -> Fernet:
    path = Path(state_dir) / "secrets.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
    return Fernet(path.read_bytes().strip())


class ProjectKeys:
    """Key pairs of every project, in the store."""

    def __init__(self, store: Store, state_dir: Path, bits: int = KEY_BITS):
        self.store = store
        self.fernet = master_key(state_dir)
        self.bits = bits

    def public_key(self, connection: str, project: str) -> rsa.RSAPublicKey:
        return self._private(connection, project, create=True).public_key()

    def public_pem(self, connection: str, project: str) -> str:
        return self.public_key(connection, project).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def _private(self, connection: str, project: str, create: bool) -> rsa.RSAPrivateKey:
        with self.store.read() as s:
            row = s.scalar(select(ProjectKeyRow).where(ProjectKeyRow.connection == connection,
                                                       ProjectKeyRow.project == project))
        if row is None:
            if not create:
                raise SecretError(f"project {project!r} has no key pair yet, so nothing can "
                                  "have been encrypted for it")
            return self._create(connection, project)
        try:
            pem = self.fernet.decrypt(row.private_encrypted)
        except InvalidToken:
            raise SecretError(f"the private key of {project!r} cannot be opened with this "
                              "server's master key (secrets.key was replaced?)") from None
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def _create(self, connection: str, project: str) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=self.bits)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        with self.store.session() as s:
            existing = s.scalar(select(ProjectKeyRow).where(
                ProjectKeyRow.connection == connection, ProjectKeyRow.project == project))
            if existing is not None:  # made by someone else meanwhile: use theirs
                return self._private(connection, project, create=False)
            s.add(ProjectKeyRow(connection=connection, project=project,
                                public_pem=public.decode(),
                                private_encrypted=self.fernet.encrypt(pem),
                                created_at=time.time()))
        return key

    def decrypt(self, connection: str, project: str, value: EncryptedValue) -> str:
        key = self._private(connection, project, create=False)
        try:
            return b"".join(key.decrypt(base64.b64decode(chunk), OAEP)
                            for chunk in value.ciphertext).decode()
        except (ValueError, TypeError) as exc:
            raise SecretError(f"a secret of {project!r} cannot be decrypted with the "
                              f"project's key ({exc.__class__.__name__}); was it encrypted "
                              f"for another project or server?") from None

    def decrypt_data(self, connection: str, project: str, data: Any) -> Any:
        """A secret's ``data`` with every encrypted value decrypted."""
        if isinstance(data, EncryptedValue):
            return self.decrypt(connection, project, data)
        if isinstance(data, dict):
            return {k: self.decrypt_data(connection, project, v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.decrypt_data(connection, project, v) for v in data]
        return data


def encrypt(public: rsa.RSAPublicKey, plaintext: str) -> list[str]:
    """Zuul's format: OAEP(SHA-1) blocks as large as the key allows, base64 each."""
    raw = plaintext.encode()
    chunk = public.key_size // 8 - 2 * 20 - 2
    return [base64.b64encode(public.encrypt(raw[i:i + chunk], OAEP)).decode()
            for i in range(0, max(len(raw), 1), chunk)]


def encrypted_block(name: str, field: str, chunks: list[str]) -> str:
    """YAML for a ``secret`` object holding one encrypted field."""
    lines = ["- secret:", f"    name: {name}", "    data:",
             f"      {field}: !encrypted/pkcs1-oaep"]
    lines += [f"        - {chunk}" for chunk in chunks]
    return "\n".join(lines) + "\n"


def plain_values(data: Any) -> list[str]:
    """Every string in decrypted secret data (for masking logs)."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [v for item in data.values() for v in plain_values(item)]
    if isinstance(data, list):
        return [v for item in data for v in plain_values(item)]
    return []
