"""Forged, replayed and malformed GitHub webhook deliveries, over real HTTP: each gets
its answer, stores nothing (or exactly one delivery), and the webhook goes on
taking the next good delivery."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.unit.github_intake.helpers import (
    SECRET,
    corpus_body,
    deliver,
    webhook_served,
)
from zuulish.drivers.github.webhook import sign
from zuulish.store import GithubDeliveryRow, Store

OPENED = "pull_request.opened.1.json"


@pytest.fixture
def hook(store: Store) -> Iterator[str]:
    with webhook_served(store, max_body=64 * 1024) as url:
        yield url


def stored(store: Store) -> list[tuple[str, str]]:
    with store.read() as session:
        return [(row.delivery, row.event) for row in session.scalars(
            select(GithubDeliveryRow).order_by(GithubDeliveryRow.id))]


def still_serves(url: str, store: Store) -> None:
    before = len(stored(store))
    status, answer = deliver(url, "pull_request", corpus_body(OPENED), delivery="next-good")
    assert (status, answer["result"]) == (200, "stored")
    assert len(stored(store)) == before + 1


def test_missing_signature_is_refused_and_nothing_stored(hook: str, store: Store) -> None:
    status, answer = deliver(hook, "pull_request", corpus_body(OPENED), secret=None)
    assert (status, answer["error"]) == (401, "missing X-Hub-Signature-256")
    assert stored(store) == []
    still_serves(hook, store)


def test_wrong_secret_is_refused(hook: str, store: Store,
                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    status, answer = deliver(hook, "pull_request", corpus_body(OPENED), secret="guessed")
    assert status == 401
    assert "does not match" in answer["error"]
    assert stored(store) == []
    assert SECRET not in caplog.text and "guessed" not in caplog.text
    still_serves(hook, store)


def test_signature_over_another_body_is_refused(hook: str, store: Store) -> None:
    body = corpus_body(OPENED)
    forged = body.replace(b'"Codertocat"', b'"mallory"')
    status, _ = deliver(hook, "pull_request", forged,
                        headers={"X-Hub-Signature-256": sign(SECRET, body)})
    assert status == 401
    assert stored(store) == []
    still_serves(hook, store)


def test_sha1_signature_alone_is_refused(hook: str, store: Store) -> None:
    import hashlib
    import hmac

    body = corpus_body(OPENED)
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    status, answer = deliver(hook, "pull_request", body, secret=None,
                             headers={"X-Hub-Signature": sha1})
    assert status == 401
    assert "X-Hub-Signature-256" in answer["error"]
    assert stored(store) == []
    still_serves(hook, store)


def test_malformed_signature_header_is_refused(hook: str, store: Store) -> None:
    status, _ = deliver(hook, "pull_request", corpus_body(OPENED),
                        headers={"X-Hub-Signature-256": "sha256=" + "zz" * 40})
    assert status == 401
    assert stored(store) == []


def test_replayed_delivery_is_stored_once(hook: str, store: Store) -> None:
    body = corpus_body(OPENED)
    first = deliver(hook, "pull_request", body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = deliver(hook, "pull_request", body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first == (200, {"result": "stored",
                           "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"})
    assert again == (200, {"result": "already received",
                           "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"})
    assert stored(store) == [("72d3162e-cc78-11e3-81ab-4c9367dc0958", "pull_request")]
    still_serves(hook, store)


def test_body_that_is_not_json_is_a_400(hook: str, store: Store) -> None:
    status, answer = deliver(hook, "pull_request", b"payload=%7B%22action%22%3A%22opened%7D",
                             headers={"Content-Type": "application/json"})
    assert status == 400
    assert answer["error"].startswith("the body is not JSON")
    assert stored(store) == []
    still_serves(hook, store)


def test_form_encoded_webhook_is_told_to_send_json(hook: str, store: Store) -> None:
    status, answer = deliver(hook, "pull_request", b"payload=%7B%7D",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert "application/json" in answer["error"]
    assert stored(store) == []


def test_json_without_repository_is_a_400(hook: str, store: Store) -> None:
    payload = json.loads(corpus_body(OPENED))
    del payload["repository"]
    status, answer = deliver(hook, "pull_request", json.dumps(payload).encode())
    assert (status, answer["error"]) == (400, "the pull_request payload lacks "
                                              "repository.full_name")
    assert stored(store) == []
    still_serves(hook, store)


def test_json_that_is_not_an_object_is_a_400(hook: str, store: Store) -> None:
    status, answer = deliver(hook, "push", b"[1, 2, 3]")
    assert (status, answer["error"]) == (400, "a push payload must be a JSON object, not list")
    assert stored(store) == []


def test_unknown_event_is_answered_and_not_stored(hook: str, store: Store,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zuulish.drivers.github")
    status, answer = deliver(hook, "star", b'{"action": "created"}', delivery="star-1")
    assert status == 200
    assert answer["result"] == "ignored"
    assert answer["reason"].startswith("zuulish does not act on 'star' events")
    assert stored(store) == []
    assert "delivery star-1 ignored: zuulish does not act on 'star' events" in caplog.text
    still_serves(hook, store)


def test_ping_is_answered_and_not_stored(hook: str, store: Store) -> None:
    status, answer = deliver(hook, "ping", corpus_body("ping.1.json"))
    assert (status, answer) == (200, {"result": "pong"})
    assert stored(store) == []


def test_unsigned_ping_is_refused_too(hook: str, store: Store) -> None:
    status, _ = deliver(hook, "ping", corpus_body("ping.1.json"), secret=None)
    assert status == 401


def test_oversize_body_is_a_413(hook: str, store: Store) -> None:
    body = b'{"padding": "' + b"x" * (64 * 1024) + b'"}'
    status, answer = deliver(hook, "push", body)
    assert status == 413
    assert "larger than 65536 bytes" in answer["error"]
    assert stored(store) == []
    still_serves(hook, store)


def test_missing_delivery_id_is_a_400(hook: str, store: Store) -> None:
    status, answer = deliver(hook, "pull_request", corpus_body(OPENED),
                             headers={"X-GitHub-Delivery": ""})
    assert (status, answer["error"]) == (400, "missing or malformed X-GitHub-Delivery")
    assert stored(store) == []


def test_the_default_limit_is_githubs_25_megabytes(store: Store) -> None:
    from zuulish.drivers.github.webhook import MAX_BODY, Webhook

    hook = Webhook("github", SECRET, store)
    try:
        assert hook.max_body == MAX_BODY == 25 * 1024 * 1024
    finally:
        hook.close()


def test_a_connection_without_a_secret_is_refused(store: Store) -> None:
    from zuulish.drivers.github.webhook import Webhook

    with pytest.raises(ValueError, match="needs a webhook_token"):
        Webhook("github", "", store)


def test_comment_from_user_without_write_permission_is_ignored_and_logged(
        hook: str, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    from tests.unit.github_intake.conftest import Permissions
    from zuulish.clock import SimulatedClock
    from zuulish.drivers.github.intake_worker import IntakeWorker
    from zuulish.store import EventRow

    caplog.set_level(logging.INFO, logger="zuulish.drivers.github")
    payload = json.loads(corpus_body("issue_comment.created.1.json"))
    payload["issue"]["pull_request"] = {
        "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"}
    payload["comment"]["body"] = "recheck"
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = "mallory"
    status, _ = deliver(hook, "issue_comment", json.dumps(payload).encode(),
                        delivery="comment-1")
    assert status == 200
    assert stored(store) == [("comment-1", "issue_comment")]
    worker = IntakeWorker("github", store, Permissions(), clock=SimulatedClock())
    worker.step()
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(EventRow)) == 0
        outcome = session.scalar(select(GithubDeliveryRow.outcome))
    assert outcome == ("ignored: comment by mallory on Codertocat/Hello-World#1: mallory has "
                       "read permission on Codertocat/Hello-World; only write, maintain or "
                       "admin may trigger")
    assert "delivery comment-1 (issue_comment): " + outcome in caplog.text
    still_serves(hook, store)


def test_the_same_delivery_sent_at_once_is_stored_once(hook: str, store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = corpus_body(OPENED)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda _: deliver(hook, "pull_request", body, delivery="same-delivery"),
            range(8)))
    assert sorted(a[1]["result"] for a in answers) == ["already received"] * 7 + ["stored"]
    assert stored(store) == [("same-delivery", "pull_request")]


def test_the_webhook_answers_others_while_the_database_is_busy(hook: str,
                                                               store: Store) -> None:
    """A delivery waiting for the database (the scheduler holds its write lock) never
    holds up the web server: a ping is answered meanwhile."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    release = threading.Event()
    locked = threading.Event()

    def hold_the_write_lock() -> None:
        with store.session() as session:
            if store.engine.dialect.name == "postgresql":  # SQLite's lock is the database's
                from sqlalchemy import text
                session.execute(text("LOCK TABLE github_deliveries IN EXCLUSIVE MODE"))
            session.add(GithubDeliveryRow(connection="other", delivery="lock", event="push",
                                          body=b"{}", received_at=0.0, attempts=0))
            session.flush()
            locked.set()
            release.wait(30)

    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(hold_the_write_lock)
        assert locked.wait(10)
        waiting = pool.submit(deliver, hook, "pull_request", corpus_body(OPENED),
                              delivery="waits-for-the-lock")
        time.sleep(0.2)  # let the delivery reach the writer (a shorter wait only weakens)
        try:
            assert deliver(hook, "ping", corpus_body("ping.1.json")) == \
                (200, {"result": "pong"})
            assert not waiting.done()
        finally:
            release.set()
        holder.result(30)
        assert waiting.result(30) == (200, {"result": "stored",
                                            "delivery": "waits-for-the-lock"})
    assert ("waits-for-the-lock", "pull_request") in stored(store)
