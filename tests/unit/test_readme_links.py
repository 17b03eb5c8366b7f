"""The README's links to files work from a clone of the repository alone."""

from __future__ import annotations

import re
from pathlib import Path

import zuulish

ROOT = Path(zuulish.__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_relative_links_name_files_inside_the_repository() -> None:
    targets = [t for t in LINK.findall((ROOT / "README.md").read_text())
               if not re.match(r"[a-z]+:", t)]
    assert "docs/DESIGN.md" in targets
    for target in targets:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), f"{target} lies outside the repository"
        assert path.exists(), f"{target} does not exist"
