#!/usr/bin/env python3
"""Speculative merges for a gate queue: zuulish's merger against checkout-and-merge.

Builds every speculative state of a queue (item k = branch tips + changes 1..k, each
state built on the one before it, merge mode ``merge-resolve``) twice:

- zuulish: ``apply_commits`` in bare mirrors (``git merge-tree`` + ``commit-tree``,
  no work tree);
- baseline: what Zuul's merger does, ``git checkout`` of the previous state and
  ``git merge -s resolve`` in a work tree per repository.

Both must give the same trees, item by item, or the benchmark fails. Prints one JSON
line: ``ms_per_merge``, ``baseline_ms_per_merge``, ``speedup`` (medians of
``--repeat`` runs). The input is ``../shared/fixtures/make_merge_fixture.py DIR
--repos R --queue N`` (made for the run unless ``--fixture DIR`` names one), so the
figures compare with other mergers on the same repositories and refs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zuulish.merger.speculative import MERGER_EMAIL, MERGER_NAME, apply_commits  # noqa: E402

GENERATOR = ROOT.parent / "shared" / "fixtures" / "make_merge_fixture.py"
BASELINE_ENV = {**os.environ, "GIT_AUTHOR_NAME": MERGER_NAME, "GIT_AUTHOR_EMAIL": MERGER_EMAIL,
                "GIT_COMMITTER_NAME": MERGER_NAME, "GIT_COMMITTER_EMAIL": MERGER_EMAIL,
                "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=BASELINE_ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def copies(manifest: dict, where: Path, bare: bool) -> dict[str, Path]:
    """A private copy of every repository, with the changes' refs."""
    out = {}
    for repo in manifest["repos"]:
        target = where / repo["name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if bare:
            git(where, "clone", "-q", "--mirror", repo["path"], str(target))
        else:
            git(where, "clone", "-q", repo["path"], str(target))
            git(target, "fetch", "-q", "origin", "+refs/changes/*:refs/changes/*")
        out[repo["name"]] = target
    return out


def trees(repos: dict[str, Path], built: list[tuple[str, str]]) -> list[str]:
    """The tree of each built state (what a build would check out)."""
    return [git(repos[project], "rev-parse", f"{commit}^{{tree}}") for project, commit in built]


def run_zuulish(manifest: dict, repos: dict[str, Path]) -> tuple[float, list[str]]:
    state = {r["name"]: r["head"] for r in manifest["repos"]}
    built: list[tuple[str, str]] = []  # (project, commit) per item, in queue order
    start = time.perf_counter()
    for queue in manifest["queues"]:
        for item in queue:
            result = apply_commits(repos[item["project"]], state[item["project"]],
                                   [item["sha"]], mode="merge-resolve")
            if result.commit is None:
                raise SystemExit(f"zuulish: change {item['number']}: {result.message}")
            state[item["project"]] = result.commit
            built.append((item["project"], result.commit))
    return time.perf_counter() - start, trees(repos, built)


def run_baseline(manifest: dict, repos: dict[str, Path]) -> tuple[float, list[str]]:
    state = {r["name"]: r["head"] for r in manifest["repos"]}
    built: list[tuple[str, str]] = []
    start = time.perf_counter()
    for queue in manifest["queues"]:
        for item in queue:
            work = repos[item["project"]]
            git(work, "checkout", "-q", "--detach", state[item["project"]])
            git(work, "merge", "-q", "-s", "resolve", "--no-edit", item["sha"])
            state[item["project"]] = git(work, "rev-parse", "HEAD")
            built.append((item["project"], state[item["project"]]))
    return time.perf_counter() - start, trees(repos, built)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fixture", type=Path)
    parser.add_argument("--repos", type=int, default=5)
    parser.add_argument("--queue", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fixture = args.fixture
        if fixture is None:
            fixture = tmp / "fixture"
            subprocess.run([sys.executable, str(GENERATOR), str(fixture), "--repos",
                            str(args.repos), "--queue", str(args.queue)], check=True,
                           capture_output=True)
        manifest = json.loads((fixture / "manifest.json").read_text())
        merges = sum(len(q) for q in manifest["queues"])
        ours, theirs = [], []
        for n in range(args.repeat):
            seconds, our_trees = run_zuulish(manifest, copies(manifest, tmp / f"z{n}", True))
            ours.append(seconds)
            seconds, their_trees = run_baseline(manifest, copies(manifest, tmp / f"b{n}",
                                                                 False))
            theirs.append(seconds)
            if our_trees != their_trees:
                raise SystemExit("zuulish and checkout-and-merge built different trees")
    ms = statistics.median(ours) * 1000 / merges
    baseline_ms = statistics.median(theirs) * 1000 / merges
    print(json.dumps({"ms_per_merge": round(ms, 2), "baseline_ms_per_merge": round(baseline_ms, 2),
                      "speedup": round(baseline_ms / ms, 2), "merges": merges,
                      "repos": len(manifest["repos"])}))


if __name__ == "__main__":
    main()
