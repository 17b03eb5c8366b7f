"""Ansible module: summarise a pytest JUnit XML report.

Runs on the node (standard library only). Returns ``counts`` (``passed``,
``failed``, ``errors``, ``skipped``, ``total``: not at the top level, where
Ansible would read ``failed`` as the task's own result), ``failed_tests``
(``classname::name`` of each failed or erroring test) and ``stdout``, the
summary as text for the job output. A missing or unreadable report is not a
module failure: ``found`` is false and ``stdout`` says why, so the job can
report pytest's own failure.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: pytest_junit_summary
short_description: Summarise a pytest JUnit XML report
options:
  path:
    description: The report (relative paths from the node's working directory).
    required: true
    type: str
  max_names:
    description: At most this many failed test names are listed.
    default: 50
    type: int
"""


def summarise(path: str, max_names: int) -> dict:
    """The counts and failed test names of the report at ``path``."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failed_tests = []
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = "::".join(part for part in (case.get("classname"), case.get("name")) if part)
        if case.find("failure") is not None:
            counts["failed"] += 1
            failed_tests.append(name)
        elif case.find("error") is not None:
            counts["errors"] += 1
            failed_tests.append(name)
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    total = sum(counts.values())
    lines = ["pytest results: {passed} passed, {failed} failed, {errors} errors, "
             "{skipped} skipped ({total} tests)".format(total=total, **counts)]
    for name in failed_tests[:max_names]:
        lines.append(f"FAILED {name}")
    if len(failed_tests) > max_names:
        lines.append(f"... and {len(failed_tests) - max_names} more")
    return {"found": True, "counts": {**counts, "total": total},
            "failed_tests": failed_tests, "stdout": "\n".join(lines)}


def main() -> None:
    module = AnsibleModule(argument_spec={"path": {"type": "str", "required": True},
                                          "max_names": {"type": "int", "default": 50}},
                           supports_check_mode=True)
    path = module.params["path"]
    if not os.path.isfile(path):
        module.exit_json(changed=False, found=False,
                         stdout=f"pytest wrote no report at {path}")
    try:
        result = summarise(path, module.params["max_names"])
    except (ET.ParseError, OSError) as exc:
        module.exit_json(changed=False, found=False,
                         stdout=f"pytest's report {path} cannot be read: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
