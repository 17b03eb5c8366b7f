"""The gate simulator's runs keep the promises (no merge of an untested state, no bad
change merged, no good change rejected without a flake)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from gate_sim import Inputs, simulate  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.long]  # minutes each on CI's two cores


@pytest.mark.parametrize("strategy", ["independent", "best"])
def test_a_long_run_with_many_bad_changes_keeps_every_promise(strategy: str) -> None:
    # independent, seed 1, bad rate 0.30 once merged a state built while an item ahead
    # was failing and outside the window (the branch had moved under it).
    figures = simulate(Inputs(200, 60, 30, 0.30, 0.0, 20, 4, 0.25, 1), strategy)
    assert (figures["violations"], figures["bad_merged"], figures["good_rejected"],
            figures["still_queued"]) == (0, 0, 0, 0)
    assert figures["merged"] == figures["oracle_merged"]
