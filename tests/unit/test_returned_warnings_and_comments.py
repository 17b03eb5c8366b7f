"""What Zuul makes of ``zuul.warnings`` and ``zuul.file_comments``: the well-formed
entries kept, each malformed one named, comments on files the change does not touch
left out, and the built-in forge's ``path:line: message`` lines."""

from __future__ import annotations

from typing import Any

from zuulish.model.file_comments import as_dicts, comment_lines, file_comments
from zuulish.model.returned_data import warnings


def returned(**zuul: Any) -> dict[str, Any]:
    return {"zuul": zuul}


def test_warnings_keep_the_messages_and_name_what_is_not_one() -> None:
    assert warnings(None) == ([], [])
    assert warnings(returned(warnings=["a", "b"])) == (["a", "b"], [])
    found, problems = warnings(returned(warnings=["a", 3, "", {"x": 1}]))
    assert found == ["a"]
    assert problems == ["zuul.warnings #2 is an int, not a message; ignored",
                        "zuul.warnings #3 is an empty string, not a message; ignored",
                        "zuul.warnings #4 is a dict, not a message; ignored"]
    assert warnings(returned(warnings="just one")) == (
        [], ["zuul.warnings must be a list of strings, not a str; ignored"])


def test_well_formed_file_comments_are_kept_in_order_with_their_optional_parts() -> None:
    given = {"a.py": [{"line": 2, "message": "two", "level": "error"},
                      {"line": 1, "message": "one", "extra": "dropped",
                       "range": {"start_line": 1, "start_character": 0,
                                 "end_line": 1, "end_character": 4}}],
             "docs/b.rst": [{"line": 10, "message": "ten"}]}
    found, problems = file_comments(returned(file_comments=given), ["a.py", "docs/b.rst"])
    assert problems == []
    assert as_dicts(found) == {
        "a.py": [{"line": 2, "message": "two", "level": "error"},
                 {"line": 1, "message": "one", "range": {"start_line": 1, "start_character": 0,
                                                         "end_line": 1, "end_character": 4}}],
        "docs/b.rst": [{"line": 10, "message": "ten"}]}
    assert comment_lines(as_dicts(found)) == ["a.py:1: one", "a.py:2: two",
                                              "docs/b.rst:10: ten"]


def test_each_malformed_file_comment_is_named_and_left_out() -> None:
    span = {"start_line": 1, "start_character": 0, "end_line": 1, "end_character": 4}
    given = {"a.py": [
        "not a mapping",
        {"line": 1},
        {"line": 0, "message": "m"},
        {"line": True, "message": "m"},
        {"line": 1, "message": "m", "level": "fatal"},
        {"line": 1, "message": "m", "range": [1, 2]},
        {"line": 1, "message": "m", "range": {**span, "end_character": -1}},
        {"line": 1, "message": "m", "range": {**span, "start_line": 2}},
        {"line": 5, "message": "kept"},
    ], "b.py": "not a list"}
    found, problems = file_comments(returned(file_comments=given))
    assert as_dicts(found) == {"a.py": [{"line": 5, "message": "kept"}]}
    assert problems == [
        "zuul.file_comments: comment #1 on a.py is a str, not a mapping; ignored",
        "zuul.file_comments: comment #2 on a.py has no message; ignored",
        "zuul.file_comments: comment #3 on a.py has no line (a whole number, 1 or more); "
        "ignored",
        "zuul.file_comments: comment #4 on a.py has no line (a whole number, 1 or more); "
        "ignored",
        "zuul.file_comments: comment #5 on a.py has level 'fatal', not one of info, "
        "warning, error; ignored",
        "zuul.file_comments: comment #6 on a.py has a range that is a list, not a mapping; "
        "ignored",
        "zuul.file_comments: comment #7 on a.py has a range without end_character (whole "
        "numbers, 0 or more); ignored",
        "zuul.file_comments: comment #8 on a.py has a range that ends before it starts; "
        "ignored",
        "zuul.file_comments: the comments on b.py are a str, not a list; ignored",
    ]
    assert file_comments(returned(file_comments=["a.py"])) == ({}, [
        "zuul.file_comments must be a mapping of file paths to lists of comments, not a "
        "list; ignored"])


def test_comments_on_files_the_change_does_not_touch_are_left_out_with_a_note() -> None:
    given = {"a.py": [{"line": 1, "message": "kept"}],
             "other.py": [{"line": 1, "message": "x"}, {"line": 2, "message": "y"}]}
    found, problems = file_comments(returned(file_comments=given), ["a.py"])
    assert as_dicts(found) == {"a.py": [{"line": 1, "message": "kept"}]}
    assert problems == ["zuul.file_comments: other.py is not a file of this change; its 2 "
                        "comment(s) ignored"]
    # without the change's files (a ref, or files not known) nothing is left out for that
    assert set(file_comments(returned(file_comments=given), None)[0]) == {"a.py", "other.py"}


def test_a_comment_line_is_one_line_of_text() -> None:
    assert comment_lines({"a.py": [{"line": 3, "message": "first\n  second"}]}) == [
        "a.py:3: first second"]
