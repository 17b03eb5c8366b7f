#!/usr/bin/python
"""Documentation stub for the ``zuul_return`` action (the work is done by
``ansible_plugins/action/zuul_return.py``, on the executor)."""

DOCUMENTATION = """
module: zuul_return
short_description: return data from a job to zuulish
description:
  - Merges C(data) into what the build returns; zuulish passes it to the jobs
    that depend on this one, and reads zuul.artifacts and zuul.child_jobs from it.
options:
  data:
    description: The data to return (a mapping).
    required: true
    type: dict
"""


def main() -> None:
    raise SystemExit("zuul_return runs as an action plugin on the executor")


if __name__ == "__main__":
    main()
