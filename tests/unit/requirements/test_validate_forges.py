"""``zuulish validate-config`` knows no connection's driver: a ``require``/``reject``
is checked as the forge whose attributes it uses."""

from __future__ import annotations

from pathlib import Path

from zuulish.config.validate import validate

PIPELINE = "- pipeline:\n    name: gate\n    manager: dependent\n    require:\n      review:\n"


def check(tmp_path: Path, require: str):
    (tmp_path / ".zuul.yaml").write_text(PIPELINE + require)
    return validate([tmp_path], standalone=True)


def test_gerrit_requirements_zuulish_honours_pass(tmp_path: Path) -> None:
    report = check(tmp_path, "        wip: false\n        approval:\n"
                             "          - Verified: [1, 2]\n            username: zuul\n"
                             "            newer-than: 48h\n")
    assert report.ok and report.warnings == [], (report.errors, report.warnings)


def test_github_requirements_are_checked_as_githubs(tmp_path: Path) -> None:
    report = check(tmp_path, "        label: [mergeit]\n        review:\n"
                             "          - type: aproved\n")
    [error] = report.errors
    assert error.line == 8
    assert "review type 'aproved' is not a GitHub review state; did you mean 'approved'?" \
        in error.message
