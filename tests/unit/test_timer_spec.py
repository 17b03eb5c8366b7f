"""Zuul's timer trigger: time specs, when they fire, and bad specs in configuration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.drivers.timer.cron import parse_time
from zuulish.drivers.timer.trigger import parse_trigger
from zuulish.model import EventFilter


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()[:19]


def test_a_five_field_spec_fires_at_its_minute_and_hour_in_utc() -> None:
    nightly = parse_time("0 6 * * *")
    assert iso(nightly.next_after(at("2026-12-01T05:59:59"))) == "2026-12-01T06:00:00"
    assert iso(nightly.next_after(at("2026-12-01T06:00:00"))) == "2026-12-02T06:00:00"


def test_the_sixth_field_is_seconds() -> None:
    spec = parse_time("*/15 * * * * 30")
    assert iso(spec.next_after(at("2026-12-01T00:00:00"))) == "2026-12-01T00:00:30"
    assert iso(spec.next_after(at("2026-12-01T00:00:30"))) == "2026-12-01T00:15:30"


def test_day_of_week_counts_from_monday_as_in_zuul() -> None:
    # 2026-12-01 is a Tuesday; 0 is Monday (cron would say Sunday)
    assert iso(parse_time("0 0 * * 0").next_after(at("2026-12-01T00:00:00"))) == \
        "2026-12-07T00:00:00"


@pytest.mark.parametrize(("after", "now", "expected"), [
    ("2026-12-01T06:00:00", "2026-12-02T05:59:59", None),  # no tick since
    ("2026-12-01T06:00:00", "2026-12-02T06:00:00", "2026-12-02T06:00:00"),  # on the dot
    ("2026-11-01T06:00:00", "2026-12-01T07:00:00", "2026-12-01T06:00:00"),  # newest only
    ("2016-12-01T06:00:00", "2026-12-01T07:00:00", "2026-12-01T06:00:00"),  # ten years
])
def test_the_last_due_tick_is_the_newest_one_since_the_last_fire(after, now, expected) -> None:
    assert iso(parse_time("0 6 * * *").last_due(at(after), at(now))) == expected


def test_the_last_due_tick_of_a_per_second_spec_after_a_long_outage() -> None:
    spec = parse_time("* * * * * *")
    assert spec.last_due(at("2026-01-01T00:00:00"), at("2026-12-01T00:00:00") + 0.5) == \
        at("2026-12-01T00:00:00")


@pytest.mark.parametrize(("text", "message"), [
    ("every day", "'every day' has 2 field(s); it needs 5"),
    ("0 0 * *", "'0 0 * *' has 4 field(s); it needs 5"),
    ("0 0 * * * 0 0 0", "has 8 field(s)"),
    ("61 * * * *", "is not a valid cron specification: Error validating expression '61'"),
    ("0 25 * * *", "the last value (25) is higher than the maximum value (23)"),
    ("0 0 * 13 *", "the last value (13) is higher than the maximum value (12)"),
    ("0 0 * * 8", "the last value (8) is higher than the maximum value (6)"),
    ("0 0 * * * * 60", "a jitter (7th field) is not supported by zuulish yet"),
    ("0 0 * * * * soon", "the jitter (7th field) must be a number of seconds"),
    (42, "time must be a cron specification such as '0 0 * * *'"),
])
def test_bad_time_specs_are_refused_with_what_is_wrong(text: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_time(text)
    assert message in str(info.value)


def test_a_zero_jitter_is_the_same_as_none() -> None:
    assert parse_time("0 0 * * * 0 0").next_after(at("2026-12-01T00:00:00")) == \
        at("2026-12-02T00:00:00")


def test_timer_entries_become_one_filter_per_time() -> None:
    assert parse_trigger("timer", [{"time": "0 0 * * *"}, {"time": "0 12 * * 1-5",
                                                          "dereference": True}]) == (
        EventFilter("timer", ("timer",), timer="0 0 * * *"),
        EventFilter("timer", ("timer",), timer="0 12 * * 1-5"))


@pytest.mark.parametrize(("entries", "message"), [
    ([{"tme": "0 0 * * *"}], "unknown timer attribute 'tme'; did you mean 'time'?"),
    ([{"event": "timer"}], "unknown timer attribute 'event'; expected one of time, "
                           "dereference"),
    ([{}], "a timer entry needs a 'time'"),
    (["0 0 * * *"], "each timer entry must be a mapping"),
    ([{"time": "0 0 * * *", "dereference": "yes"}], "dereference must be true or false"),
    # each tick enqueues the tip's commit (Zuul's dereference: true); false is refused
    ([{"time": "0 0 * * *", "dereference": False}], "'dereference: false' is not available"),
    ([{"time": "every day"}], "'every day' has 2 field(s)"),
])
def test_bad_timer_entries_are_refused_with_a_hint(entries: list, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_trigger("timer", entries)
    assert message in str(info.value)


CONFIG = """
- pipeline:
    name: nightly
    manager: independent
    trigger:
      timer:
        - time: '0 0 * * *'
- pipeline:
    name: broken
    manager: independent
    trigger:
      timer:
        - time: '0 0 * *'
- pipeline:
    name: check
    manager: independent
    trigger:
      timer:
        - time: '*/5 * * * *'
"""


def test_a_bad_time_is_a_config_error_at_its_line_and_the_rest_still_loads() -> None:
    tenant = TenantConfig("t", [TenantProject("forge", "zuul-config", True)])
    loader = ConfigLoader(tenant, {"forge": "git", "timer": "timer"},
                          {"timer": parse_trigger})
    layout = loader.build({"zuul-config": ("main", {"zuul.d/pipelines.yaml": CONFIG})})
    [error] = layout.errors
    assert (error.file, error.line) == ("zuul-config/zuul.d/pipelines.yaml", 13)
    assert "pipeline 'broken' trigger: time '0 0 * *' has 4 field(s)" in str(error)
    assert sorted(layout.pipelines) == ["check", "nightly"]
    assert layout.pipelines["nightly"].triggers == (
        EventFilter("timer", ("timer",), timer="0 0 * * *"),)
