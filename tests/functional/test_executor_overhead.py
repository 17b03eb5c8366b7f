"""The executor overhead benchmark runs real builds and reports plausible figures."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "executor_overhead.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("executor_overhead", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_prints_one_json_line_of_positive_figures(
        capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark()
    returned = bench.main(["--builds", "2", "--warmup", "1", "--throughput-builds", "3"])
    [line] = capsys.readouterr().out.splitlines()
    figures = json.loads(line)
    assert figures == returned
    for key in ("start_overhead_ms", "start_overhead_p99_ms", "finish_overhead_ms",
                "finish_overhead_p99_ms", "start_overhead_seen_ms", "builds_per_minute"):
        assert figures[key] > 0, key
    # Plausible: measured, not made up; a trivial build takes well under a minute.
    assert figures["start_overhead_ms"] <= figures["start_overhead_p99_ms"] < 60_000
    assert figures["finish_overhead_ms"] <= figures["finish_overhead_p99_ms"] < 60_000
    assert 1 < figures["builds_per_minute"] < 60 * 1000
    stages = figures["start_stages_p50_ms"]
    assert set(stages) == {"claim", "prepare", "ansible"} and all(v > 0 for v in stages.values())
    assert set(figures["finish_stages_p50_ms"]) == {"executor", "commit"}
    assert (figures["builds"], figures["warmup"], figures["throughput_builds"]) == (2, 1, 3)
    assert figures["workers"] == 2 and figures["preload_ansible"] is True
