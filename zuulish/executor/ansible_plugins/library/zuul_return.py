#!/usr/bin/python
"""Documentation stub for the ``zuul_return`` action (the work is done by
``ansible_plugins/action/zuul_return.py``, on the executor)."""

DOCUMENTATION = """
module: zuul_return
short_description: return data from a job to zuulish
description:
  - Merges C(data), or the JSON mapping in C(file), into what the build returns;
    zuulish passes it to the jobs that depend on this one, and reads
    zuul.artifacts, zuul.child_jobs, zuul.pause, zuul.warnings and
    zuul.file_comments from it. zuul.artifacts, zuul.warnings and each file's
    zuul.file_comments are appended to what earlier calls returned.
options:
  data:
    description: The data to return (a mapping). Give this or C(file).
    type: dict
  file:
    description: A JSON file on the executor holding the data to return (a
      mapping); relative to the build's work directory. An untrusted playbook
      may only name a file in its work directory.
    type: path
  secret_data:
    description: Data handed to the jobs that depend on this one as secrets
      (a mapping); stored encrypted, masked in logs, never in an inventory.
    type: dict
  secret_file:
    description: A JSON file holding secret_data (the rules of C(file)).
    type: path
"""


def main() -> None:
    raise SystemExit("zuul_return runs as an action plugin on the executor")


if __name__ == "__main__":
    main()
