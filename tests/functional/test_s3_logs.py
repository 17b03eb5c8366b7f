"""Build logs in an S3 bucket (moto's server on 127.0.0.1, the real boto3): the
executor uploads them before it records the result, any web serves them (ranges
included) and retention deletes them."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from sqlalchemy import select

from tests.fakes.moto_server import closed_port_url
from tests.fakes.rows import item_with_buildset
from tests.fakes.s3_logs import S3Logs, moto_server, s3_logs  # noqa: F401
from tests.fakes.web_server import served
from zuulish.clock import SimulatedClock
from zuulish.config.layout import Layout
from zuulish.executor.ansible_run import JobLog
from zuulish.executor.retention import DAY, prune_logs
from zuulish.executor.server import Executor
from zuulish.logs.local import LocalLogStore
from zuulish.logs.s3 import S3LogStore
from zuulish.logs.settings import LogSettings
from zuulish.logs.stores import LogStores
from zuulish.model import FrozenJob
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import BuildRow, BuildSetRow, Store
from zuulish.web.app import create_app

LOG = "".join(f"line {n}\n" for n in range(5000))


def add_build(store: Store, build_id: str = "b1", state: str = "running",
              log_path: str | None = None, finished_at: float | None = None) -> BuildRow:
    with store.session() as s:
        buildset_id = s.scalar(select(BuildSetRow.id)) or item_with_buildset(s, pipeline="check")
        s.add(BuildRow(id=build_id, buildset_id=buildset_id, job="unit", state=state,
                       result="SUCCESS" if state == "completed" else None,
                       frozen_job=FrozenJob(name="unit").to_dict(), params={},
                       worker="executor-1", attempt=1, created_at=0.0, started_at=1.0,
                       finished_at=finished_at, log_path=log_path))
    with store.read() as s:
        row = s.get(BuildRow, build_id)
        assert row is not None
        return row


def row(store: Store, build_id: str = "b1") -> BuildRow:
    with store.read() as s:
        found = s.get(BuildRow, build_id)
        assert found is not None
        return found


def run_build(store: Store, state_dir: Path, stores: LogStores, result: str = "SUCCESS",
              seen: list[Any] | None = None) -> None:
    """Run build b1 through the executor's real end of a build; its playbooks are
    replaced by a line in its console log and files in its log root."""
    executor = Executor(store, state_dir, SimulatedClock(start=100.0), preload_ansible=False,
                        log_stores=stores)

    def execute(build: BuildRow, build_dir: Path, job_log: JobLog, *_: Any) -> tuple[str, str]:
        job_log.write("the build ran")
        log_root = build_dir / "work" / "logs"  # zuul.executor.log_root
        (log_root / "zuul-info").mkdir(parents=True)
        (log_root / "zuul-info" / "inventory.json").write_text('{"all": {}}')
        (log_root / "tox.log").write_text("py311: OK\n")
        return result, ""

    real_finish = executor._finish

    def finish(build: BuildRow, *args: Any, **kwargs: Any) -> None:
        if seen is not None:  # what was in the bucket when the result was recorded
            seen.append(sorted(stores.s3.client.list_objects_v2(  # type: ignore[union-attr]
                Bucket=stores.s3.bucket).get("Contents", []), key=str))  # type: ignore[union-attr]
        real_finish(build, *args, **kwargs)

    executor._execute = execute  # type: ignore[method-assign]
    executor._finish = finish  # type: ignore[method-assign]
    executor._run_build(add_build(store), threading.Event())


def test_the_executor_uploads_the_logs_before_recording_the_result_and_removes_its_copy(
        store: Store, tmp_path: Path, s3_logs: S3Logs) -> None:  # noqa: F811
    stores = LogStores(LocalLogStore(tmp_path), s3_logs.store)
    seen: list[Any] = []
    run_build(store, tmp_path, stores, seen=seen)
    build = row(store)
    assert (build.result, build.message) == ("SUCCESS", None)
    assert build.log_path == f"s3://{s3_logs.bucket}/ci/logs/b1/"
    assert s3_logs.keys() == ["ci/logs/b1/job-output.json", "ci/logs/b1/job-output.txt",
                              "ci/logs/b1/tox.log", "ci/logs/b1/zuul-info/inventory.json"]
    assert len(seen[0]) == 4  # all there before the result was
    assert b"the build ran" in s3_logs.body("ci/logs/b1/job-output.txt")
    head = s3_logs.client.head_object
    assert head(Bucket=s3_logs.bucket, Key="ci/logs/b1/tox.log")["ContentType"] \
        .startswith("text/plain")
    assert head(Bucket=s3_logs.bucket,
                Key="ci/logs/b1/zuul-info/inventory.json")["ContentType"] == "application/json"
    assert not (tmp_path / "logs" / "b1").exists()  # the local copy is gone


def test_an_unreachable_bucket_keeps_the_result_and_says_the_logs_were_not_stored(
        store: Store, tmp_path: Path, s3_logs: S3Logs) -> None:  # noqa: F811
    nowhere = S3LogStore(LogSettings("s3", s3_logs.bucket, closed_port_url(), "us-east-1"),
                         retry_delays=(0.05,))
    run_build(store, tmp_path, LogStores(LocalLogStore(tmp_path), nowhere), result="FAILURE")
    build = row(store)
    assert build.state == "completed" and build.result == "FAILURE"
    assert "the build's logs could not be stored in the s3 log store" in (build.message or "")
    # kept on this host instead, where its log_path says they are
    assert build.log_path == str(tmp_path / "logs" / "b1")
    assert (tmp_path / "logs" / "b1" / "tox.log").is_file()


@pytest.fixture
def web(store: Store, tmp_path: Path, s3_logs: S3Logs) -> Any:  # noqa: F811
    """A web on another host (nothing in its own log folder) over the bucket, with
    build b1's logs uploaded."""
    local = tmp_path / "executor" / "logs" / "b1"
    (local / "artifacts").mkdir(parents=True)
    (local / "job-output.txt").write_text(LOG)
    (local / "artifacts" / "page.html").write_text("<script>alert(1)</script>")
    log_path = s3_logs.store.keep("b1", local)
    add_build(store, state="completed", log_path=log_path, finished_at=time.time())
    web_state = tmp_path / "web"
    stores = LogStores(LocalLogStore(web_state), s3_logs.store)
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": Layout("t")}  # the build's tenant
    with served(lambda url: create_app(store, layouts, web_state, url,
                                       log_stores=stores)) as url:
        yield url


def test_any_web_serves_stored_logs(web: str) -> None:
    answer = requests.get(f"{web}/logs/b1/job-output.txt", timeout=10)
    assert answer.status_code == 200 and answer.text == LOG
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.headers["Accept-Ranges"] == "bytes"
    page = requests.get(f"{web}/logs/b1/artifacts/page.html", timeout=10)
    assert page.headers["Content-Security-Policy"] == "sandbox"
    assert requests.get(f"{web}/logs/b1/missing.txt", timeout=10).status_code == 404
    assert requests.get(f"{web}/logs/nobuild/job-output.txt", timeout=10).status_code == 404


def test_a_range_is_answered_206_with_its_content_range(web: str) -> None:
    answer = requests.get(f"{web}/logs/b1/job-output.txt", timeout=10,
                          headers={"Range": "bytes=7-13"})
    assert answer.status_code == 206
    assert answer.content == LOG.encode()[7:14]
    assert answer.headers["Content-Range"] == f"bytes 7-13/{len(LOG)}"
    tail = requests.get(f"{web}/logs/b1/job-output.txt", timeout=10,
                        headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == LOG.encode()[-10:]
    rest = requests.get(f"{web}/logs/b1/job-output.txt", timeout=10,
                        headers={"Range": f"bytes={len(LOG) - 5}-"})
    assert rest.content == LOG.encode()[-5:]


def test_a_range_beyond_the_end_is_416(web: str) -> None:
    answer = requests.get(f"{web}/logs/b1/job-output.txt", timeout=10,
                          headers={"Range": f"bytes={len(LOG)}-{len(LOG) + 100}"})
    assert answer.status_code == 416
    assert answer.headers["Content-Range"] == f"bytes */{len(LOG)}"


def test_the_build_page_shows_the_end_of_a_stored_log(web: str) -> None:
    page = requests.get(f"{web}/build/b1", timeout=10).text  # to /t/t/build/b1
    assert "line 4999" in page and "line 0\n" in page  # under 64 KB: the whole log


def test_the_console_of_a_finished_build_is_read_from_the_bucket(web: str) -> None:
    async def read() -> tuple[str, int | None]:
        text = []
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"{web}/api/build/b1/console-stream?offset=7") as ws:
            async for message in ws:
                text.append(message.data)
            return "".join(text), ws.close_code

    text, code = asyncio.run(read())
    assert text == LOG[7:] and code == 1000


def test_retention_deletes_the_objects_of_old_builds_only(
        store: Store, tmp_path: Path, s3_logs: S3Logs) -> None:  # noqa: F811
    now = 100 * DAY
    for build_id, finished in (("old", now - 40 * DAY), ("recent", now - DAY)):
        folder = tmp_path / "upload" / build_id
        (folder / "a").mkdir(parents=True)
        (folder / "job-output.txt").write_text("x\n")
        (folder / "a" / "b.txt").write_text("y\n")
        add_build(store, build_id, state="completed",
                  log_path=s3_logs.store.keep(build_id, folder), finished_at=finished)
    stores = LogStores(LocalLogStore(tmp_path), s3_logs.store)
    assert prune_logs(store, tmp_path, now - 30 * DAY, stores) == ["old"]
    assert s3_logs.keys() == ["ci/logs/recent/a/b.txt", "ci/logs/recent/job-output.txt"]
    with store.read() as s:
        paths = dict(s.execute(select(BuildRow.id, BuildRow.log_path)).all())
    assert paths["old"] is None and paths["recent"] == f"s3://{s3_logs.bucket}/ci/logs/recent/"
