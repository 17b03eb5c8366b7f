"""HTTP byte ranges on a log file of known size."""

from __future__ import annotations

import pytest

from zuulish.logs.ranges import ByteRange, Unsatisfiable, parse_range


@pytest.mark.parametrize("header, wanted", [
    (None, None),
    ("bytes=0-9", ByteRange(0, 9)),
    ("bytes=10-", ByteRange(10, 99)),
    ("bytes=-5", ByteRange(95, 99)),
    ("bytes=-500", ByteRange(0, 99)),  # more than there is: all of it
    ("bytes=90-1000", ByteRange(90, 99)),  # cut at the end
    ("bytes = 1 - 2", ByteRange(1, 2)),
    ("bytes=5-1", None),  # invalid: ignored, the whole file
    ("bytes=0-1,5-6", None),  # several ranges: the whole file
    ("items=0-1", None),
    ("bytes=-", None),
    ("bytes=abc", None),
])
def test_one_range_is_served_and_anything_else_means_the_whole_file(
        header: str | None, wanted: ByteRange | None) -> None:
    assert parse_range(header, 100) == wanted


@pytest.mark.parametrize("header, size", [("bytes=100-", 100), ("bytes=100-200", 100),
                                          ("bytes=-0", 100), ("bytes=0-", 0)])
def test_a_range_past_the_end_is_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_the_content_range_names_the_bytes_and_the_size() -> None:
    assert ByteRange(7, 13).content_range(100) == "bytes 7-13/100"
    assert ByteRange(7, 13).length == 7
