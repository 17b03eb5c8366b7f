"""A bucket for build logs on moto's S3 server (127.0.0.1), reached by the real boto3.

``s3_logs`` (a fixture) makes a fresh bucket on the session's ``moto_server``,
puts test credentials in the environment (as an operator would: boto3's chain,
never zuulish.yaml) and gives the ``logs:`` settings and a store for it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer, moto_server
from zuulish.logs.s3 import S3LogStore
from zuulish.logs.settings import LogSettings

__all__ = ["S3Logs", "moto_server", "s3_logs"]

_numbers = itertools.count(1)


@dataclass
class S3Logs:
    server: MotoServer
    bucket: str
    settings: LogSettings
    store: S3LogStore

    @property
    def client(self) -> Any:
        return self.server.client("s3")

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.bucket)
        return sorted(obj["Key"] for obj in listed.get("Contents", []))

    def body(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


@pytest.fixture
def s3_logs(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch  # noqa: F811
            ) -> Iterator[S3Logs]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"zuulish-logs-{next(_numbers)}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    settings = LogSettings("s3", bucket, moto_server.url, "us-east-1", "ci/logs")
    yield S3Logs(moto_server, bucket, settings, S3LogStore(settings, retry_delays=(0.05,)))
