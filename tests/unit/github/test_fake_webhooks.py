"""Webhook deliveries from the fake GitHub: signed as GitHub signs, shaped as its events."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.corpus import CORPUS_ROOT
from tests.fakes.github import fixtures
from tests.fakes.github.webhooks import (
    check_run_payload,
    comment_payload,
    pull_request_payload,
    push_payload,
    review_payload,
)

# the fake GitHub (tests/fakes/github), checked against GitHub's OpenAPI description
fake_github = fixtures.fake_github
github_openapi = fixtures.github_openapi

CORPUS = CORPUS_ROOT / "github"


@pytest.fixture
def receiver():
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/connection/github/payload", got
    server.shutdown()
    server.server_close()


def test_delivery_is_signed_with_the_hooks_secret(fake_github, receiver):
    url, got = receiver
    repo = fake_github.add_repo("acme/widget")
    pull = fake_github.add_pull("acme/widget", {"a": "a\n"})
    fake_github.add_installation(fake_github.add_app(), "acme")
    fake_github.add_webhook(url, "s3cret")
    [delivery] = fake_github.emit("pull_request",
                                  pull_request_payload(fake_github, repo, pull, "opened"))
    assert delivery.status == 202
    headers, body = got[0]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == f"sha256={expected}"
    assert (headers["x-github-event"], headers["x-github-delivery"]) == (
        "pull_request", delivery.delivery_id)
    payload = json.loads(body)
    assert payload["pull_request"]["head"]["sha"] == pull.head_sha
    assert payload["installation"]["id"] == next(iter(fake_github.installations))


def test_a_replayed_delivery_keeps_its_id(fake_github, receiver):
    url, got = receiver
    repo = fake_github.add_repo("acme/widget")
    pull = fake_github.add_pull("acme/widget", {"a": "a\n"})
    fake_github.add_webhook(url, "s3cret")
    payload = pull_request_payload(fake_github, repo, pull, "opened")
    first = fake_github.emit("pull_request", payload)[0]
    fake_github.emit("pull_request", payload, delivery_id=first.delivery_id)
    assert [h["x-github-delivery"] for h, _ in got] == [first.delivery_id] * 2


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not beside this clone")
def test_payloads_have_the_top_level_fields_of_githubs_examples(fake_github):
    repo = fake_github.add_repo("acme/widget")
    pull = fake_github.add_pull("acme/widget", {"a": "a\n"})
    comment = fake_github.add_comment(repo, pull, "alice", "recheck")
    review = fake_github.add_review(repo, pull, "bob", "APPROVED")
    run = fake_github.add_check_run(repo, fake_github.add_app(),
                                    {"name": "zuul", "head_sha": pull.head_sha})
    made = {
        "pull_request.opened.1": pull_request_payload(fake_github, repo, pull, "opened"),
        "issue_comment.created.1": comment_payload(fake_github, repo, pull, comment),
        "pull_request_review.submitted.1": review_payload(fake_github, repo, pull, review),
        "check_run.rerequested.1": check_run_payload(fake_github, repo, run, "rerequested"),
        "push.1": push_payload(fake_github, repo, "refs/heads/main", "0" * 40,
                               repo.bare.rev("refs/heads/main")),
    }
    for name, payload in made.items():
        example = json.loads((CORPUS / f"{name}.json").read_text())
        wanted = set(example) - {"organization", "installation", "enterprise"}
        assert wanted <= set(payload), (name, wanted - set(payload))
        for key in ("pull_request", "issue", "review", "comment", "check_run"):
            if key in example:
                inner = {"id", "number", "state", "user", "head", "base", "body", "head_sha",
                         "name", "status", "conclusion"} & set(example[key])
                assert inner <= set(payload[key]), (name, key, inner - set(payload[key]))
