"""What `zuulish review --approve` prints from the scheduler's outcome of the approval."""

from __future__ import annotations

from zuulish.drivers.git.review import approval_outcome


def test_each_pipeline_says_whether_the_change_entered_it_or_why_not() -> None:
    outcome = ("t/gate: not enqueued: needed change 6 does not meet the requirements of gate "
               "(Workflow 1); u/gate: enqueued 6, 7")
    assert approval_outcome(7, outcome) == [
        "change 7 will not enter t/gate: needed change 6 does not meet the requirements of "
        "gate (Workflow 1)",
        "change 7 entered u/gate"]


def test_no_pipeline_or_no_answer_is_said_plainly() -> None:
    assert approval_outcome(7, "no pipeline matched") == [
        "change 7 entered no pipeline: no pipeline matched"]
    [line] = approval_outcome(7, None)
    assert "has not acted on the approval yet" in line
