"""``zuulish status`` names a change as the dashboard does: a pull request as
``org/repo#12``, and by its label where the server says no more (an older one)."""

from __future__ import annotations

from typing import Any

from zuulish.cli_status import draw_tenant


def status(change: dict[str, Any]) -> dict[str, Any]:
    item = {"change": {"project": "acme/app", "branch": "main", "subject": "Fix it",
                       **change},
            "live": True, "enqueued_at": 0.0, "active": False, "failing": False,
            "jobs": []}
    return {"tenant": "t", "pipelines": [{"name": "gate", "manager": "dependent",
                                          "queues": [{"name": "shared", "window": 20,
                                                      "items": [item]}]}]}


def test_a_pull_request_is_drawn_by_its_display_name() -> None:
    lines = draw_tenant(status({"label": "3,2", "display": "acme/app#12"}), now=60.0)
    [line] = [x for x in lines if "Fix it" in x]
    assert line.split()[0] == "acme/app#12" and "3,2" not in line


def test_a_server_that_names_no_display_is_drawn_by_the_label() -> None:
    lines = draw_tenant(status({"label": "3,2"}), now=60.0)
    [line] = [x for x in lines if "Fix it" in x]
    assert line.split()[0] == "3,2"
