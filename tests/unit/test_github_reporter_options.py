"""A pipeline's GitHub reporter takes Zuul's options and refuses the rest at load."""

from __future__ import annotations

import pytest

from zuulish.drivers.github.reporter_options import parse_reporter_options
from zuulish.model import ReporterSpec


def test_zuuls_gate_reporter_merges_and_reports_a_check_and_labels() -> None:
    spec = parse_reporter_options("github", {"check": "success", "merge": True,
                                             "comment": False, "label": "merged-by-zuul",
                                             "unlabel": ["gate", "approved"]})
    assert spec == ReporterSpec("github", submit=True, comment=False, options=(
        ("check", "success"), ("label", ("merged-by-zuul",)),
        ("unlabel", ("gate", "approved"))))


def test_a_review_with_its_body_and_a_commit_status() -> None:
    spec = parse_reporter_options("gh", {"status": "failure", "review": "request-changes",
                                         "review-body": "The gate failed."})
    assert dict(spec.options) == {"status": "failure", "review": "request-changes",
                                  "review-body": "The gate failed."}
    assert spec.submit is False and spec.comment is True


@pytest.mark.parametrize(("opts", "message"), [
    ({"stauts": "success"}, "unknown option 'stauts'; did you mean 'status'?"),
    ({"submit": True}, "unknown option 'submit'"),
    ({"Verified": 1}, "GitHub reporters take status, status-url, check"),
    ({"status": "error"}, "status must be one of pending, success, failure, not 'error'"),
    ({"check": "done"}, "check must be one of queued, cancelled"),
    ({"review": "reject"}, "review must be one of approve, comment, request-changes"),
    ({"review": "comment"}, "review: comment needs a review-body"),
    ({"review-body": "text"}, "review-body is only used with review"),
    ({"merge": "yes"}, "merge must be true or false, not 'yes'"),
    ({"status-url": "status.html"}, "status-url must be an http(s) URL"),
    ({"label": [1]}, "label must be a label name or a list of them"),
])
def test_a_bad_option_is_refused_with_what_is_wrong(opts: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_reporter_options("github", opts)
    assert message in str(err.value)


def _pipeline(reporter: str) -> str:
    return ("- pipeline:\n    name: gate\n    manager: dependent\n"
            "    trigger:\n      github:\n        - event: pull_request\n"
            f"    success:\n      github:\n{reporter}")


def _load(reporter: str):
    from zuulish.config.loader import ConfigLoader
    from zuulish.config.tenant import TenantConfig, TenantProject
    from zuulish.model import EventFilter

    tenant = TenantConfig("t", [TenantProject("github", "org/config", True)])
    loader = ConfigLoader(tenant, {"github": "github"}, {
        "github": lambda conn, entries: tuple(EventFilter(conn, (e["event"],))
                                              for e in entries)})
    return loader.build({"org/config": ("main", {"zuul.yaml": _pipeline(reporter)})})


def test_the_pipeline_keeps_the_github_reporters_options() -> None:
    built = _load("        merge: true\n        check: success\n")
    assert built.errors == []
    (spec,) = built.pipelines["gate"].success
    assert spec.submit and dict(spec.options) == {"check": "success"}


def test_a_bad_reporter_option_is_an_error_at_its_file_and_line() -> None:
    built = _load("        merge: true\n        stauts: success\n")
    (error,) = built.errors
    assert "reporter 'github': unknown option 'stauts'; did you mean 'status'?" in str(error)
    assert error.file == "org/config/zuul.yaml" and error.line == 8  # the reporter
