"""Attacks on build logs kept in a log store and on the executors' console servers.

The console server gives a byte of a log only to a request a component signed
(HMAC over the uuid, the offset and the time, with a key derived from
``secrets.key``) within a minute of now, and only for a build id that is a
build id; a web reads from the bucket only what a build row's ``log_path`` says
is that build's, by names that stay inside it; retention deletes nothing a
row points elsewhere; credentials never live in zuulish.yaml.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import select

from tests.fakes.rows import item_with_buildset
from tests.fakes.s3_logs import S3Logs, moto_server, s3_logs  # noqa: F401
from tests.fakes.web_server import served
from zuulish.errors import ConfigError
from zuulish.executor.console_server import ConsoleServer
from zuulish.executor.retention import prune_logs
from zuulish.logs import console_auth
from zuulish.logs.local import LocalLogStore
from zuulish.logs.stores import LogStores
from zuulish.server_config import load_server_config
from zuulish.store import BuildRow, BuildSetRow, Store
from zuulish.web.app import create_app

# The log stores, the console servers' signatures and the web's paths are the subject;
# the builds' rows only say where logs are (the store has its own tests).
pytestmark = pytest.mark.not_store

SECRET_LOG = "TOPSECRET console line\n"
KEY = b"k" * 32


def add_build(store: Store, build_id: str, log_path: str | None = None,
              state: str = "completed", finished_at: float | None = 1.0) -> None:
    with store.session() as s:
        buildset_id = s.scalar(select(BuildSetRow.id)) or item_with_buildset(s)
        s.add(BuildRow(id=build_id, buildset_id=buildset_id, job="unit", state=state,
                       result="SUCCESS", created_at=0.0, finished_at=finished_at,
                       log_path=log_path))


# ---------------------------------------------------------- console server


@pytest.fixture
def console(store: Store, tmp_path: Path) -> Iterator[str]:
    """A console server with build b1's log on its disk; its URL."""
    add_build(store, "b1")
    (tmp_path / "logs" / "b1").mkdir(parents=True)
    (tmp_path / "logs" / "b1" / "job-output.txt").write_text(SECRET_LOG)
    server = ConsoleServer(store, tmp_path, host="127.0.0.1", port=0, key=KEY)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def ask(url: str, uuid: str, offset: str = "0",
        headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(f"{url}/console/{uuid}?offset={offset}", headers=headers or {},
                        timeout=10)


def test_a_signed_request_gets_the_log(console: str) -> None:
    answer = ask(console, "b1", headers=console_auth.signed_headers(KEY, "b1", 0, time.time()))
    assert answer.status_code == 200 and answer.text == SECRET_LOG


# each made when the test runs (not when the module is collected: minutes may pass)
@pytest.mark.parametrize("make_headers", [
    lambda: {},  # not signed
    lambda: {console_auth.TIMESTAMP_HEADER: str(int(time.time()))},
    lambda: {console_auth.TIMESTAMP_HEADER: str(int(time.time())),
             console_auth.SIGNATURE_HEADER: "0" * 64},  # wrong
    lambda: console_auth.signed_headers(b"another deployment's key".ljust(32), "b1", 0,
                                        time.time()),
    lambda: console_auth.signed_headers(KEY, "b2", 0, time.time()),  # for another build
    lambda: console_auth.signed_headers(KEY, "b1", 5, time.time()),  # for another offset
    lambda: console_auth.signed_headers(KEY, "b1", 0, time.time() - 120),  # expired
    lambda: console_auth.signed_headers(KEY, "b1", 0, time.time() + 120),  # from the future
    lambda: {console_auth.TIMESTAMP_HEADER: "-1e9", console_auth.SIGNATURE_HEADER: "x"},
    lambda: {console_auth.TIMESTAMP_HEADER: "\u00b2", console_auth.SIGNATURE_HEADER: "x"},
], ids=["unsigned", "no-signature", "wrong", "other-key", "other-build", "other-offset",
        "expired", "future", "nonsense", "unicode-digit"])
def test_anything_but_a_fresh_signature_is_401_without_a_byte_of_log(
        console: str, make_headers: Callable[[], dict[str, str]]) -> None:
    answer = ask(console, "b1", headers=make_headers())
    assert answer.status_code == 401
    assert "TOPSECRET" not in answer.text


@pytest.mark.parametrize("uuid", ["..", "..%2F..%2Fsecrets.key", "b1%2F..%2F..%2Fx",
                                  ".b1", "b1%00", "%2Fetc%2Fpasswd", "a" * 200])
def test_a_uuid_with_path_tricks_never_reaches_the_filesystem(
        console: str, tmp_path: Path, uuid: str) -> None:
    (tmp_path / "secrets.key").write_text("TOPSECRET key\n")
    decoded = requests.utils.unquote(uuid)
    # even signed (a component gone bad), the id is refused
    answer = ask(console, uuid, headers=console_auth.signed_headers(KEY, decoded, 0,
                                                                     time.time()))
    assert answer.status_code in (400, 401, 404)
    assert "TOPSECRET" not in answer.text


def test_a_link_in_place_of_a_log_folder_is_not_followed(
        console: str, store: Store, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "job-output.txt").write_text("TOPSECRET elsewhere\n")
    os.symlink(outside, tmp_path / "logs" / "b3")
    add_build(store, "b3")
    answer = ask(console, "b3", headers=console_auth.signed_headers(KEY, "b3", 0, time.time()))
    assert "TOPSECRET" not in answer.text


@pytest.mark.parametrize("offset", ["-1", "%C2%B2", "1e3", "9" * 30])
def test_a_bad_offset_is_refused(console: str, offset: str) -> None:
    answer = ask(console, "b1", offset=offset,
                 headers=console_auth.signed_headers(KEY, "b1", -1, time.time()))
    assert answer.status_code == 400 and "TOPSECRET" not in answer.text


# ---------------------------------------------------------- stored logs


@pytest.fixture
def web(store: Store, tmp_path: Path, s3_logs: S3Logs) -> Iterator[str]:  # noqa: F811
    """A web over the bucket, holding b1's logs and another build's secret ones."""
    for build_id, text in (("b1", "b1's log\n"), ("victim", SECRET_LOG)):
        folder = tmp_path / "upload" / build_id
        folder.mkdir(parents=True)
        (folder / "job-output.txt").write_text(text)
        add_build(store, build_id, s3_logs.store.keep(build_id, folder))
    # an object beside the prefix, and a build whose row points at the victim's logs
    s3_logs.client.put_object(Bucket=s3_logs.bucket, Key="ci/secret.txt", Body=b"TOPSECRET")
    add_build(store, "thief", f"s3://{s3_logs.bucket}/ci/logs/victim/")
    add_build(store, "elsewhere", "s3://another-bucket/ci/logs/elsewhere/")
    stores = LogStores(LocalLogStore(tmp_path / "web"), s3_logs.store)
    with served(lambda url: create_app(store, SimpleNamespace(layouts={}, tenants={}),
                                       tmp_path / "web", url, log_stores=stores)) as url:
        yield url


@pytest.mark.parametrize("path", [
    "b1/%2e%2e/victim/job-output.txt",
    "b1/..%2Fvictim%2Fjob-output.txt", "b1/%2E%2E%2F..%2Fsecret.txt",
    "b1//job-output.txt", "b1/.%2Fjob-output.txt", "b1/..%5Cvictim%5Cjob-output.txt",
    "b1/%2Fci%2Flogs%2Fvictim%2Fjob-output.txt", "..%2Fsecret.txt/x",
    "thief/job-output.txt", "elsewhere/job-output.txt",
])
def test_names_and_rows_never_reach_another_builds_objects(web: str, path: str) -> None:
    answer = requests.get(f"{web}/logs/{path}", timeout=10)
    assert answer.status_code in (400, 404)
    assert "TOPSECRET" not in answer.text


def test_stored_html_cannot_run_script_on_the_dashboard(web: str, s3_logs: S3Logs) -> None:  # noqa: F811
    s3_logs.client.put_object(Bucket=s3_logs.bucket, Key="ci/logs/b1/x.html",
                              Body=b"<script>1</script>", ContentType="text/html")
    answer = requests.get(f"{web}/logs/b1/x.html", timeout=10)
    assert answer.headers["Content-Security-Policy"] == "sandbox"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_retention_deletes_nothing_a_row_points_elsewhere(
        store: Store, tmp_path: Path, s3_logs: S3Logs) -> None:  # noqa: F811
    folder = tmp_path / "upload" / "victim"
    folder.mkdir(parents=True)
    (folder / "job-output.txt").write_text(SECRET_LOG)
    add_build(store, "victim", s3_logs.store.keep("victim", folder), finished_at=1e12)
    add_build(store, "thief", f"s3://{s3_logs.bucket}/ci/logs/victim/")
    add_build(store, "climber", f"s3://{s3_logs.bucket}/ci/logs/../logs/victim/")
    stores = LogStores(LocalLogStore(tmp_path), s3_logs.store)
    assert prune_logs(store, tmp_path, 1e9, stores) == []
    assert s3_logs.keys() == ["ci/logs/victim/job-output.txt"]


@pytest.mark.parametrize("key", ["aws_access_key_id", "aws_secret_access_key", "secret_key"])
def test_credentials_in_zuulish_yaml_are_refused(tmp_path: Path, key: str) -> None:
    path = tmp_path / "zuulish.yaml"
    path.write_text(f"tenant_file: m.yaml\nlogs: {{store: s3, bucket: b-1, {key}: x}}\n")
    with pytest.raises(ConfigError) as info:
        load_server_config(path)
    assert "credentials do not belong in zuulish.yaml" in str(info.value)
    assert str(path) in str(info.value)
