"""The ``logs:`` section and the executor's console settings in zuulish.yaml."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from zuulish.errors import ConfigError
from zuulish.logs.settings import LogSettings
from zuulish.server_config import load_server_config


def load(tmp: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp / "zuulish.yaml"
    path.write_text("tenant_file: main.yaml\n" + text)
    return load_server_config(path)


def test_without_a_logs_section_logs_stay_in_the_state_directory(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.logs == LogSettings("local")
    assert config.executor_console_listen is None and config.executor_console_url is None
    assert load(tmp_path, "logs: {store: local}\n").logs == LogSettings("local")


def test_an_s3_store_with_every_option(tmp_path: Path) -> None:
    config = load(tmp_path, "logs: {store: s3, bucket: ci-logs, endpoint_url: "
                            "'http://minio:9000/', region: eu-west-1, prefix: /zuul/logs/}\n")
    assert config.logs == LogSettings("s3", "ci-logs", "http://minio:9000", "eu-west-1",
                                      "zuul/logs")
    assert load(tmp_path, "logs: {store: s3, bucket: ci-logs}\n").logs == \
        LogSettings("s3", "ci-logs")


def test_console_settings_default_to_this_hosts_name(tmp_path: Path) -> None:
    config = load(tmp_path, "executor: {console_listen: '0.0.0.0:7900'}\n")
    assert config.executor_console_listen == ("0.0.0.0", 7900)
    assert config.executor_console_url == f"http://{socket.gethostname()}:7900"
    given = load(tmp_path, "executor: {console_listen: '[::]:7901', "
                           "console_url: 'http://executor-1:7901/'}\n")
    assert given.executor_console_listen == ("::", 7901)
    assert given.executor_console_url == "http://executor-1:7901"


@pytest.mark.parametrize("text, message", [
    ("logs: {store: gcs}\n", "key 'logs.store' must be one of local, s3, not 'gcs'"),
    ("logs: {store: s3}\n", "missing required key 'logs.bucket'"),
    ("logs: {store: s3, bucket: A}\n", "key 'logs.bucket' must be an S3 bucket name"),
    ("logs: {store: s3, bucket: [x]}\n", "key 'logs.bucket' must be a string"),
    ("logs: {store: s3, bucket: b-1, endpoint_url: minio:9000}\n",
     "key 'logs.endpoint_url' must be an http:// or https:// URL"),
    ("logs: {store: s3, bucket: b-1, prefix: a/../b}\n", "key 'logs.prefix' must be a plain"),
    ("logs: {store: s3, bucket: b-1, region: ''}\n", "key 'logs.region' must not be empty"),
    ("logs: {store: s3, bucket: b-1, buckit: x}\n",
     "unknown key 'logs.buckit' (did you mean 'logs.bucket'?)"),
    ("logs: {store: local, bucket: b-1}\n", "logs.bucket is only for 'store: s3'"),
    ("logs: [s3]\n", "key 'logs' must be a mapping"),
    ("executor: {console_listen: 7900}\n", "key 'executor.console_listen' must be a string"),
    ("executor: {console_listen: 'host'}\n", "must be HOST:PORT, not 'host'"),
    ("executor: {console_listen: 'h:99999'}\n", "must be HOST:PORT, not 'h:99999'"),
    ("executor: {console_url: 'http://x:1'}\n",
     "executor.console_url is set but executor.console_listen is not"),
    ("executor: {console_listen: 'h:1', console_url: 'ftp://x'}\n",
     "key 'executor.console_url' must be an http:// or https:// URL"),
])
def test_bad_values_name_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert message in str(info.value)
    assert str(tmp_path / "zuulish.yaml") in str(info.value)
