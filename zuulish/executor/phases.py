"""A build's phases and Zuul's rules for turning them into a result.

- A playbook file that is missing, or a job without a run playbook: ERROR,
  before anything runs (Zuul finds this while preparing the build).
- pre-run failure: RETRY (the caller retries up to ``attempts``, then
  RETRY_LIMIT); the run phase is skipped. Unless the build returned
  ``zuul.retry: false`` (``zuul_return``) before post-run: then FAILURE, not
  retried, as in Zuul.
- run failure: FAILURE. pre-run and run share the job's ``timeout``;
  exceeding it: TIMED_OUT.
- A playbook Ansible cannot load (a syntax error, a missing role, an unknown
  module) fails in its phase as any failing playbook does, as in Zuul (where
  ansible-playbook's exit status is all that counts): RETRY in pre-run,
  FAILURE in run, POST_FAILURE in post-run; the message is Ansible's.
- An unreachable node: NODE_FAILURE. Cancel: CANCELED.
- A playbook killed by a signal that no cancel or timeout sent (in any phase
  but cleanup-run): RETRY, as Zuul treats an aborted ansible-playbook: the
  executor host's fault, never a failure of the change; RETRY_LIMIT with the
  signal named once the attempts are used up.
- post-run runs after run whatever its result, and after a pre-run failure
  (only the playbooks of the failing job's level and its parents', as in
  Zuul); not after a cancel. Its failure turns SUCCESS into POST_FAILURE
  and changes no other result. Each post-run playbook has its own bound.
- cleanup-run always runs (even after a cancel), with the same bound, and
  never changes the result.
- post-run and cleanup-run playbooks get Zuul's ``zuul_success`` (the pre-run
  and run phases succeeded) and ``zuul_will_retry`` (the build will run again:
  a pre-run failure or a lost node, with attempts left) as extra variables.
- Before all of them, the setup run gathers the facts of the nodes that have
  none (``facts.py``), within ``facts.SETUP_TIMEOUT``; the job's timeout starts
  after it. As in Zuul, a setup that fails ends the build before any playbook
  runs (no post-run, no cleanup-run): NODE_FAILURE when a node was unreachable
  (the build runs again on new nodes), else RETRY (a timeout included), with
  what went wrong in the build's message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zuulish.executor.ansible_run import JobLog, PhaseOutcome, PlaybookRun, run_playbook
from zuulish.executor.facts import SETUP_TIMEOUT, BuildFacts
from zuulish.executor.job_roles import check_sources
from zuulish.executor.playbook_paths import check_playbook
from zuulish.executor.safe_files import UnsafePath
from zuulish.executor.sandbox import DEFAULT_NETWORK, TrustedSpec
from zuulish.executor.ssh import SshAccess

DEFAULT_POST_TIMEOUT = 1800.0


def _result_for(outcome: PhaseOutcome, phase: str) -> tuple[str, str] | None:
    """The build result a playbook's outcome implies in ``phase`` (None: carry on)."""
    if outcome.status == "successful":
        return None
    if outcome.status == "canceled":
        return "CANCELED", outcome.message
    if outcome.status == "timeout":
        return "TIMED_OUT", outcome.message
    if outcome.status == "error":
        return "ERROR", outcome.message
    if outcome.status == "unreachable":
        return "NODE_FAILURE", outcome.message
    if outcome.status == "killed":
        return "RETRY", outcome.message
    if phase == "pre-run":
        return "RETRY", outcome.message
    if phase == "run":
        return "FAILURE", outcome.message
    return "POST_FAILURE", outcome.message


def _setup_result(outcome: PhaseOutcome) -> tuple[str, str] | None:
    """The build result of a setup run that did not succeed (None: it did)."""
    if outcome.status == "successful":
        return None
    if outcome.status == "canceled":
        return "CANCELED", "the build was canceled"
    if outcome.status == "unreachable":
        return "NODE_FAILURE", "a node was unreachable while its facts were gathered " \
                               "(the setup run); the build will run on new nodes"
    if outcome.status == "timeout":
        return "RETRY", f"gathering the nodes' facts (the setup run) took longer than " \
                        f"{SETUP_TIMEOUT:g}s"
    if outcome.status == "error":
        return "ERROR", f"the setup run could not run: {outcome.message}"
    return "RETRY", f"gathering the nodes' facts (the setup run) failed: {outcome.message}"


def _check_playbooks(books: list[PlaybookRun], run: list[PlaybookRun],
                     log: JobLog, cwd: Path | None) -> tuple[str, str] | None:
    for book in books:
        try:
            check_playbook(book.playbook, cwd)
        except UnsafePath as exc:
            message = f"{book.phase} playbook {book.label}: {exc}"
            log.write(f"ERROR: {message}")
            return "ERROR", message
        if not book.playbook.is_file():
            message = f"{book.phase} {book.not_found}"
            log.write(f"ERROR: {message}")
            return "ERROR", message
    if not run:
        log.write("ERROR: the job has no run playbook")
        return "ERROR", "the job has no run playbook"
    return None


def run_phases(private_dir: Path, pre: list[PlaybookRun], run: list[PlaybookRun],
               post: list[PlaybookRun], cleanup: list[PlaybookRun], inventory: dict[str, Any],
               extra_vars: dict[str, Any], log: JobLog, timeout: float | None,
               cancel: threading.Event | None, cwd: Path | None,
               post_timeout: float = DEFAULT_POST_TIMEOUT,
               preload: dict[str, str] | None = None,
               after_run: Callable[[], None] | None = None,
               ssh: SshAccess | None = None,
               attempts_left: bool = False,
               sandbox_network: str = DEFAULT_NETWORK,
               returned_limit: int | None = None,
               trusted_vars: tuple[dict[str, Any], dict[str, Any]] | None = None,
               trusted: TrustedSpec | None = None,
               node_socket: Path | None = None,
               retry_returned: Callable[[], bool | None] | None = None,
               facts: BuildFacts | None = None,
               setup: PlaybookRun | None = None) -> tuple[str, str]:
    """Run every phase; return (result, message), result one of Zuul's.

    ``preload`` is the environment that forks trusted playbooks from a warm Ansible
    into the build's sandbox, ``trusted`` what they see (``ansible_run.run_playbook``);
    ``after_run`` is called once the run phase succeeded, before post-run (where a
    build that asked for ``zuul.pause`` waits for its dependants); ``ssh`` is how
    playbooks reach the build's remote nodes (its agent and known hosts);
    ``attempts_left`` says whether a pre-run failure or a lost node would make the
    build run again (post-run and cleanup playbooks get ``zuul_will_retry``);
    ``sandbox_network`` is the network untrusted playbooks get (``sandbox.NETWORK_MODES``);
    ``returned_limit`` the most bytes ``zuul_return`` data may grow to;
    ``trusted_vars`` the inventory and extra vars trusted playbooks get instead
    (``untrusted_vars.trusted_view``: untrusted values frozen and unsafe);
    ``node_socket`` the agent of the build's local node (``local_node.LocalNode``);
    ``retry_returned`` reads the ``zuul.retry`` the build returned so far (None:
    not returned), asked when a pre-run playbook failed.
    ``facts`` the build's fact caches, and ``setup`` the setup run that gathers
    what they lack (``facts.py``; None: nothing to gather).
    """
    checked = _check_playbooks([*pre, *run, *post, *cleanup], run, log, cwd)
    if checked is not None:
        return checked
    if setup is not None:
        inv = trusted_vars[0] if trusted_vars else inventory
        failed = _setup_result(run_playbook(
            private_dir, setup, inv, {}, log, SETUP_TIMEOUT, cancel, cwd, roles_path=[],
            preload=preload, ssh=ssh, sandbox_network=sandbox_network,
            returned_limit=returned_limit, trusted=trusted, node_socket=node_socket,
            facts=facts))
        if failed is not None:
            log.write(f"ERROR: {failed[1]}")
            return failed
    deadline = time.monotonic() + timeout if timeout is not None else None

    def play(book: PlaybookRun, limit: float | None, stop: threading.Event | None,
             outcome: dict[str, bool] | None = None) -> PhaseOutcome:
        inv, extra = trusted_vars if book.trusted and trusted_vars else (inventory, extra_vars)
        given = {**extra, **outcome} if outcome else extra
        try:  # again: an earlier playbook may have changed the work dir
            roles = check_playbook(book.playbook, cwd)
            roles += [p for p in check_sources(book.roles) if p not in roles]
        except UnsafePath as exc:
            message = f"{book.phase} playbook {book.label}: {exc}"
            log.write(f"ERROR: {message}")
            return PhaseOutcome(book.phase, book.label, "error", -1, message)
        return run_playbook(private_dir, book, inv, given, log, limit, stop,
                            cwd, roles, preload, ssh, sandbox_network, returned_limit,
                            trusted, node_socket, facts)

    result: tuple[str, str] | None = None
    failed_pre_level: int | None = None
    pre_failed = False
    for phase, books in (("pre-run", pre), ("run", run)):
        for book in books:
            if cancel is not None and cancel.is_set():
                result = ("CANCELED", "the build was canceled")
                break
            left = deadline - time.monotonic() if deadline is not None else None
            if left is not None and left <= 0:
                result = ("TIMED_OUT", "")
                break
            played = play(book, left, cancel)
            result = _result_for(played, phase)
            if result is not None:
                if phase == "pre-run":
                    failed_pre_level = book.level
                    # the job's own failure, which zuul.retry: false keeps from a retry
                    pre_failed = played.status in ("failed", "not-loaded")
                break
        if result is not None:
            break
    if pre_failed and retry_returned is not None and retry_returned() is False:
        result = ("FAILURE", f"{result[1]} (not retried: the build returned "
                             "zuul.retry: false)")
        log.write(result[1])
    if result is not None and result[0] == "TIMED_OUT":
        result = ("TIMED_OUT", f"the job exceeded its timeout of {timeout:g}s")
        log.write(result[1])

    if result is None and after_run is not None:
        after_run()
    # Zuul's variables for post-run and cleanup playbooks: whether the run phase
    # succeeded, and whether the build will be tried again.
    outcome = {"zuul_success": result is None,
               "zuul_will_retry": attempts_left and result is not None
               and result[0] in ("RETRY", "NODE_FAILURE")}
    if result is None or result[0] != "CANCELED":
        for book in post:
            if failed_pre_level is not None and book.level > failed_pre_level:
                continue  # its job's pre-run never ran
            if cancel is not None and cancel.is_set():
                result = result or ("CANCELED", "the build was canceled")
                break
            post_result = _result_for(play(book, post_timeout, cancel, outcome), "post-run")
            if post_result is None or result is not None:
                continue
            if post_result[0] in ("CANCELED", "ERROR", "RETRY"):
                result = post_result
            else:
                result = ("POST_FAILURE", post_result[1])

    for book in cleanup:
        # runs even after a cancel; its result does not count
        play(book, post_timeout, None, outcome)
    return result if result is not None else ("SUCCESS", "")
