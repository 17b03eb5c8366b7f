"""A pipeline's Gerrit reporter: label votes, submit, comment and Zuul's ``checks-api``;
anything else is refused at its file and line."""

from __future__ import annotations

import pytest

from zuulish.drivers.gerrit.reporter_options import parse_reporter_options
from zuulish.model import ReporterSpec


def test_votes_submit_comment_and_a_check_are_read() -> None:
    spec = parse_reporter_options("review", {
        "Verified": 2, "submit": True, "comment": False,
        "checks-api": {"checker": "zuul:gate", "state": "SUCCESSFUL",
                       "message": "Change passed all voting jobs"}})
    assert spec == ReporterSpec("review", votes=(("Verified", 2),), submit=True,
                                comment=False, options=(("checks-api", (
                                    ("checker", "zuul:gate"), ("state", "SUCCESSFUL"),
                                    ("message", "Change passed all voting jobs"))),))
    hash(spec)  # a layout's reporters stay hashable
    plain = parse_reporter_options("review", {"Verified": -1})
    assert plain == ReporterSpec("review", votes=(("Verified", -1),))


@pytest.mark.parametrize(("opts", "message"), [
    ({"checks-api": {"checker": "c", "state": "PASSED"}},
     "checks-api state must be one of NOT_STARTED, SCHEDULED, RUNNING, SUCCESSFUL, "
     "FAILED, NOT_RELEVANT, not 'PASSED'"),
    ({"checks-api": {"checker": "c"}}, "checks-api state must be one of"),
    ({"checks-api": {"state": "RUNNING"}}, "checks-api needs a 'checker'"),
    ({"checks-api": {"checker": "c", "state": "RUNNING", "mesage": "m"}},
     "checks-api: unknown option 'mesage'; did you mean 'message'?"),
    ({"checks-api": {"scheme": "zuul-check", "state": "RUNNING"}},
     "checks-api: 'scheme' is not supported"),
    ({"checks-api": {"checker": "c", "state": "RUNNING", "message": 3}},
     "checks-api message must be text"),
    ({"checks-api": "RUNNING"}, "checks-api must be a mapping"),
    ({"check-api": {"checker": "c", "state": "RUNNING"}},
     "unknown option 'check-api' (a label vote is a number, not {"),
    ({"Verified": "+1"}, "unknown option 'Verified' (a label vote is a number, not '+1')"),
    ({"Verified": True}, "a label vote is a number, not True"),
    ({"submit": "yes"}, "submit must be true or false, not 'yes'"),
])
def test_a_bad_option_is_refused_with_what_is_wrong(opts: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_reporter_options("review", opts)
    assert message in str(err.value)


def _load(reporter: str):
    from zuulish.config.loader import ConfigLoader
    from zuulish.config.tenant import TenantConfig, TenantProject
    from zuulish.model import EventFilter

    text = ("- pipeline:\n    name: check\n    manager: independent\n"
            "    trigger:\n      review:\n        - event: patchset-created\n"
            f"    success:\n      review:\n{reporter}")
    tenant = TenantConfig("t", [TenantProject("review", "org/config", True)])
    loader = ConfigLoader(tenant, {"review": "gerrit"}, {
        "gerrit": lambda conn, entries: tuple(EventFilter(conn, (e["event"],))
                                              for e in entries)})
    return loader.build({"org/config": ("main", {"zuul.yaml": text})})


def test_the_pipeline_keeps_the_check_of_its_gerrit_reporter() -> None:
    built = _load("        Verified: 1\n        checks-api:\n          checker: zuul:check\n"
                  "          state: SUCCESSFUL\n")
    assert built.errors == []
    (spec,) = built.pipelines["check"].success
    assert spec.votes == (("Verified", 1),)
    assert dict(dict(spec.options)["checks-api"]) == {"checker": "zuul:check",
                                                      "state": "SUCCESSFUL"}


@pytest.mark.parametrize(("reporter", "line", "message"), [
    ("        checks-api:\n          checker: zuul:check\n          state: PASSED\n", 11,
     "checks-api state must be one of"),
    ("        checks-api:\n          checker: zuul:check\n          state: RUNNING\n"
     "          colour: red\n", 12, "checks-api: unknown option 'colour'"),
    ("        Verified: 1\n        chekcs-api: {checker: c, state: RUNNING}\n", 10,
     "unknown option 'chekcs-api'"),
])
def test_a_bad_check_option_is_an_error_at_its_file_and_line(
        reporter: str, line: int, message: str) -> None:
    built = _load(reporter)
    (error,) = built.errors
    assert f"reporter 'review': {message}" in str(error)
    assert error.file == "org/config/zuul.yaml" and error.line == line
