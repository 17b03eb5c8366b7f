#!/usr/bin/env python3
"""Speculative merges for a gate queue: zuulish's merger against checkout-and-merge.

Builds every speculative state of a queue (item k = branch tips + changes 1..k, each
state built on the one before it, merge mode ``merge-resolve``) twice:

- zuulish: ``apply_commits`` in bare mirrors (no work tree: trivial tree merges in
  process, anything else by ``git merge-tree``);
- baseline: what Zuul's merger does, ``git checkout`` of the previous state and
  ``git merge -s resolve`` in a work tree per repository.

Both must give the same trees, item by item, or the benchmark fails. Prints one JSON
line: ``ms_per_merge``, ``baseline_ms_per_merge``, ``speedup`` (medians of
``--repeat`` runs).

Input: by default, repositories with realistic history made for the run
(``--files`` files, ``--commits`` commits each, by ``git fast-import``), with the
queue laid out as ``../shared/fixtures/make_merge_fixture.py`` lays it out;
``--fixture DIR`` takes that generator's output instead (``make_merge_fixture.py DIR
--repos R --queue N``), so the figures compare with other mergers on the very same
repositories and refs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zuulish.merger.repo_cache import RepoCache  # noqa: E402
from zuulish.merger.speculative import MERGER_EMAIL, MERGER_NAME, apply_commits  # noqa: E402

BASELINE_ENV = {**os.environ, "GIT_AUTHOR_NAME": MERGER_NAME, "GIT_AUTHOR_EMAIL": MERGER_EMAIL,
                "GIT_COMMITTER_NAME": MERGER_NAME, "GIT_COMMITTER_EMAIL": MERGER_EMAIL,
                "GIT_CONFIG_NOSYSTEM": "1"}


def _commit(chunks: list[bytes], ref: str, when: int, message: str, changes: dict[str, str],
            parent: str | None) -> None:
    """One commit of a ``git fast-import`` stream, with fixed identity and date."""
    body = message.encode()
    ident = f"Dev <dev@example.org> {1600000000 + when} +0000"
    chunks.append(f"commit {ref}\nauthor {ident}\ncommitter {ident}\n".encode())
    chunks.append(b"data %d\n%s\n" % (len(body), body))
    if parent:
        chunks.append(f"from {parent}\n".encode())
    for path, text in changes.items():
        data = text.encode()
        chunks.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")


def make_history_fixture(out: Path, repos: int, queue: int, files: int, commits: int) -> None:
    """Repositories with ``commits`` commits over ``files`` files, and a shared queue."""
    rng = random.Random(42)
    names = [f"org/project{r}" for r in range(repos)]
    info, items = [], []
    stream_env = {**BASELINE_ENV, "GIT_DIR": ""}
    for name in names:
        bare = out / "remotes" / name
        bare.mkdir(parents=True)
        git(bare, "init", "-q", "--bare", "-b", "master")
        paths = [f"src/mod{i % 60}/part{i % 7}/file{i}.py" for i in range(files)]
        content = {p: [f"# {name} {p} line {n}\n" for n in range(30)] for p in paths}
        chunks: list[bytes] = []
        _commit(chunks, "refs/heads/master", 0, "Initial import",
                {p: "".join(lines) for p, lines in content.items()}, None)
        for n in range(1, commits):
            touched = {}
            for path in rng.sample(paths, rng.randint(1, 3)):
                content[path].append(f"# commit {n}\n")
                touched[path] = "".join(content[path])
            _commit(chunks, "refs/heads/master", n, f"History commit {n}", touched, None)
        stream_env["GIT_DIR"] = str(bare)
        subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(chunks), check=True,
                       env=stream_env, capture_output=True)
        head = git(bare, "rev-parse", "refs/heads/master")
        info.append({"name": name, "path": str(bare), "branch": "master", "head": head,
                     "paths": paths})
    chunks_by_repo: dict[int, list[bytes]] = {r: [] for r in range(repos)}
    for number in range(1, queue + 1):
        r = (number - 1) % repos
        repo = info[r]
        path = repo["paths"][(number * 7919) % files]
        text = git(Path(repo["path"]), "show", f"master:{path}") + "\n"
        text += f"# change {number} edits this file\n"
        ref = f"refs/changes/{number % 100:02d}/{number}/1"
        _commit(chunks_by_repo[r], ref, commits + number, f"Change {number} to {repo['name']}",
                {path: text, f"changes/change-{number}.txt": f"change {number}\n"},
                repo["head"])
        items.append({"number": number, "patchset": 1, "project": repo["name"],
                      "branch": "master", "ref": ref, "sha": None,
                      "files": [path, f"changes/change-{number}.txt"]})
    for r, chunks in chunks_by_repo.items():
        stream_env["GIT_DIR"] = info[r]["path"]
        subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(chunks), check=True,
                       env=stream_env, capture_output=True)
    for item in items:
        repo = next(i for i in info if i["name"] == item["project"])
        item["sha"] = git(Path(repo["path"]), "rev-parse", item["ref"])
    for repo in info:
        del repo["paths"]
    (out / "manifest.json").write_text(json.dumps(
        {"format": "zuulish-merge-fixture/1", "layout": "shared", "repos": info,
         "queues": [items], "files_per_repo": files, "commits_per_repo": commits}))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=BASELINE_ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def copies(manifest: dict, where: Path, bare: bool) -> dict[str, Path]:
    """A private copy of every repository, with the changes' refs."""
    out = {}
    for repo in manifest["repos"]:
        target = where / repo["name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if bare:  # zuulish's merger works on its repo cache
            target = RepoCache(where).ensure(repo["name"], repo["path"])
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
    parser.add_argument("--files", type=int, default=3000, help="files per made repository")
    parser.add_argument("--commits", type=int, default=3000,
                        help="commits of history per made repository")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fixture = args.fixture
        if fixture is None:
            fixture = tmp / "fixture"
            make_history_fixture(fixture, args.repos, args.queue, args.files, args.commits)
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
                      "repos": len(manifest["repos"]),
                      "fixture": str(args.fixture) if args.fixture else
                      f"made: {args.files} files, {args.commits} commits per repo"}))


if __name__ == "__main__":
    main()
