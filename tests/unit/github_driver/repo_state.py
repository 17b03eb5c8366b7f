"""The repo_state the merger records for a tested item (see zuulish/merger/worker.py),
built here for one pull request on the fake GitHub's repository."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.fakes.github.state import Pull
from tests.unit.github_driver.conftest import CONNECTION, REPO, World
from zuulish.merger.speculative import apply_commits, tree_of


def state_as_tested(world: World, pull: Pull, mode: str, work: Path) -> dict[str, Any]:
    """The repo_state the merger records for ``pull`` alone on its branch (see
    zuulish/merger/worker.py), built on a clone of the repository as it is now."""
    path = work / "tested.git"
    if not path.exists():
        subprocess.run(["git", "clone", "-q", "--mirror", str(world.repo.bare.path),
                        str(path)], check=True)
    else:
        subprocess.run(["git", "-C", str(path), "fetch", "-q", "origin",
                        "+refs/*:refs/*"], check=True)
    base = subprocess.run(["git", "-C", str(path), "rev-parse", "refs/heads/main"],
                          check=True, capture_output=True, text=True).stdout.strip()
    result = apply_commits(path, base, [pull.head_sha], mode)
    assert result.ok and result.commit
    return {REPO: {"connection": CONNECTION, "url": str(world.repo.bare.path),
                   "branch": "main", "base": base, "pre": base, "commit": result.commit,
                   "merge_mode": mode, "tree": tree_of(path, result.commit),
                   "pre_tree": tree_of(path, base), "ahead_changes": [],
                   "changes": [pull.head_sha], "links": {}}}
