"""``zuul.playbook_context``: the playbooks a build runs, their checkouts and roles
paths, relative to the build's directory, as Zuul gives it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from zuulish.executor.ansible_run import PlaybookRun
from zuulish.executor.playbook_context import playbook_context
from zuulish.executor.playbook_paths import check_playbook
from zuulish.executor.workspace import PreparedRepo


def _repo(path: Path, branch: str, files: dict[str, str]) -> str:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    env = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@e", "HOME": str(path), "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q", "-b", branch], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=path, check=True, env=env)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, env=env,
                          capture_output=True, text=True).stdout.strip()


def test_playbooks_by_phase_with_their_projects_and_roles(tmp_path: Path) -> None:
    build = tmp_path / "build"
    config = build / "trusted" / "zuul-config"
    config_sha = _repo(config, "main", {"playbooks/pre.yaml": "[]",
                                        "playbooks/post.yaml": "[]",
                                        "roles/r/tasks/main.yaml": "[]"})
    app = build / "untrusted" / "org" / "app"
    app_sha = _repo(app, "main", {"playbooks/run.yaml": "[]"})
    subprocess.run(["git", "checkout", "-q", "--detach"], cwd=app, check=True)
    books = [
        PlaybookRun(config / "playbooks/pre.yaml", "pre-run", True, project="zuul-config",
                    commit=config_sha),
        PlaybookRun(app / "playbooks/run.yaml", "run", False, project="org/app",
                    commit=app_sha),
        PlaybookRun(config / "playbooks/post.yaml", "post-run", True, project="zuul-config",
                    commit=config_sha),
        PlaybookRun(config / "playbooks/post.yaml", "cleanup-run", True,
                    project="zuul-config", commit=config_sha),
    ]
    tested = PreparedRepo("org/app", build / "work/src/forge/org/app",
                          "src/forge/org/app", "stable", app_sha)
    context = playbook_context(books, build, "forge", [tested],
                               lambda book: check_playbook(book.playbook, None))
    assert context["playbook_projects"] == {
        "trusted/zuul-config": {"canonical_name": "forge/zuul-config", "checkout": "main",
                                "commit": config_sha},
        "untrusted/org/app": {"canonical_name": "forge/org/app", "checkout": "stable",
                              "commit": app_sha}}
    roles = [{"role_path": "trusted/zuul-config/roles", "link_name": None,
              "link_target": None, "checkout": "main",
              "checkout_description": "playbook branch"}]
    assert context["pre_playbooks"] == [
        {"path": "trusted/zuul-config/playbooks/pre.yaml", "roles": roles}]
    assert context["playbooks"] == [{"path": "untrusted/org/app/playbooks/run.yaml",
                                     "roles": []}]
    assert [p["path"] for p in context["post_playbooks"]] == [
        "trusted/zuul-config/playbooks/post.yaml"] * 2
